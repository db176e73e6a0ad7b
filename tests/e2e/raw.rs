//! MQTT packets written by hand, for what real clients refuse to send or cannot time.

/// MQTT's variable byte integer.
pub fn remaining_length(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n % 128) as u8;
        n /= 128;
        out.push(if n > 0 { byte | 0x80 } else { byte });
        if n == 0 {
            return;
        }
    }
}

/// A length-prefixed UTF-8 string.
pub fn string(s: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A whole packet: fixed header byte, remaining length, body.
pub fn packet(kind: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![kind];
    remaining_length(body.len(), &mut out);
    out.extend(body);
    out
}

/// An MQTT 5 CONNECT without credentials, with a Session Expiry Interval of zero.
pub fn connect_v5(client_id: &str, clean_start: bool) -> Vec<u8> {
    let mut body = Vec::new();
    string("MQTT", &mut body);
    body.extend([5, if clean_start { 0x02 } else { 0x00 }, 0, 60]);
    body.extend([5, 0x11, 0, 0, 0, 0]); // properties: Session Expiry Interval 0
    string(client_id, &mut body);
    packet(0x10, body)
}

/// Reads one packet (bounded wait): its first byte, then its body without the remaining length;
/// `None` when the connection closed.
pub async fn read_packet(stream: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(crate::harness::WAIT, async {
        let mut head = [0u8; 1];
        stream.read_exact(&mut head).await.ok()?;
        let (mut length, mut shift) = (0usize, 0);
        loop {
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await.ok()?;
            length |= usize::from(byte[0] & 0x7F) << shift;
            shift += 7;
            if byte[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.ok()?;
        Some([&head[..], &body].concat())
    })
    .await
    .expect("a packet or a close in time")
}
