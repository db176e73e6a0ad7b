//! One MQTT connection to the external broker, in MQTT 5 or 3.1.1: rumqttc's two clients behind
//! one small interface, so that the rest of the transport is written once.

use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5 as m5;

use crate::transport::QoS;

fn q5(qos: QoS) -> rumqttc::v5::mqttbytes::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::v5::mqttbytes::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::v5::mqttbytes::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::v5::mqttbytes::QoS::ExactlyOnce,
    }
}

fn q4(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

/// Connection options of either version.
#[derive(Clone)]
pub(crate) enum Options {
    V5(Box<rumqttc::v5::MqttOptions>),
    V4(Box<rumqttc::MqttOptions>, rumqttc::NetworkOptions),
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_v4() { "Options(MQTT 3.1.1)" } else { "Options(MQTT 5)" })
    }
}

impl Options {
    pub fn client_id(&self) -> String {
        match self {
            Options::V5(o) => o.client_id(),
            Options::V4(o, _) => o.client_id(),
        }
    }

    pub fn set_client_id(&mut self, id: String) {
        match self {
            Options::V5(o) => {
                o.set_client_id(id);
            }
            Options::V4(o, _) => {
                o.set_client_id(id);
            }
        }
    }

    /// A Last Will at QoS 1.
    pub fn set_will(&mut self, topic: &str, payload: Vec<u8>, retain: bool) {
        match self {
            Options::V5(o) => {
                o.set_last_will(m5::LastWill::new(topic, payload, q5(QoS::AtLeastOnce), retain, None));
            }
            Options::V4(o, _) => {
                o.set_last_will(rumqttc::LastWill::new(topic, payload, q4(QoS::AtLeastOnce), retain));
            }
        }
    }

    /// Resumes the session that exists, and (MQTT 5) ends it with this connection.
    pub fn resume_then_end(&mut self) {
        match self {
            Options::V5(o) => {
                o.set_clean_start(false);
                o.set_session_expiry_interval(Some(0));
            }
            Options::V4(o, _) => {
                o.set_clean_session(false);
            }
        }
    }

    /// A connection that starts clean, which ends a 3.1.1 session left behind.
    pub fn clean(&mut self) {
        match self {
            Options::V5(o) => {
                o.set_clean_start(true);
            }
            Options::V4(o, _) => {
                o.set_clean_session(true);
            }
        }
    }

    pub fn is_v4(&self) -> bool {
        matches!(self, Options::V4(..))
    }

    pub fn connect(self, capacity: usize) -> (Client, EventLoop) {
        match self {
            Options::V5(o) => {
                let (client, eventloop) = rumqttc::v5::AsyncClient::new(*o, capacity);
                (Client::V5(client), EventLoop::V5(Box::new(eventloop)))
            }
            Options::V4(o, network) => {
                let (client, mut eventloop) = rumqttc::AsyncClient::new(*o, capacity);
                eventloop.set_network_options(network);
                (Client::V4(client), EventLoop::V4(Box::new(eventloop)))
            }
        }
    }
}

/// A received PUBLISH of either version.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub topic: String,
    pub payload: Bytes,
    pub retain: bool,
    pub correlation_data: Option<Bytes>,
    pub response_topic: Option<String>,
    raw: Box<Raw>,
}

#[derive(Debug, Clone)]
enum Raw {
    V5(m5::Publish),
    V4(rumqttc::Publish),
}

impl Message {
    /// Whether it must be acknowledged (QoS ≥ 1).
    pub fn needs_ack(&self) -> bool {
        match self.raw.as_ref() {
            Raw::V5(p) => p.qos != rumqttc::v5::mqttbytes::QoS::AtMostOnce,
            Raw::V4(p) => p.qos != rumqttc::QoS::AtMostOnce,
        }
    }
}

/// The client side of a connection: what can be sent.
#[derive(Clone)]
pub(crate) enum Client {
    V5(rumqttc::v5::AsyncClient),
    V4(rumqttc::AsyncClient),
}

/// Why a send failed (the request channel is full or closed).
pub(crate) type SendError = String;
impl Client {
    /// Acknowledges without waiting; `false` when the request channel is full.
    pub fn try_ack(&self, message: &Message) -> bool {
        match (&self, message.raw.as_ref()) {
            (Client::V5(c), Raw::V5(p)) => !matches!(c.try_ack(p), Err(rumqttc::v5::ClientError::TryRequest(_))),
            (Client::V4(c), Raw::V4(p)) => !matches!(c.try_ack(p), Err(rumqttc::ClientError::TryRequest(_))),
            _ => true,
        }
    }

    pub async fn ack(&self, message: &Message) {
        match (&self, message.raw.as_ref()) {
            (Client::V5(c), Raw::V5(p)) => drop(c.ack(p).await),
            (Client::V4(c), Raw::V4(p)) => drop(c.ack(p).await),
            _ => {}
        }
    }

    /// Publishes; MQTT 5 carries the correlation data and response topic (3.1.1 cannot).
    pub async fn publish(
        &self,
        topic: String,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        correlation_data: Option<Bytes>,
    ) -> Result<(), SendError> {
        match self {
            Client::V5(c) => {
                let properties = m5::PublishProperties { correlation_data, ..Default::default() };
                c.publish_with_properties(topic, q5(qos), retain, payload, properties).await.map_err(|e| e.to_string())
            }
            Client::V4(c) => c.publish(topic, q4(qos), retain, payload).await.map_err(|e| e.to_string()),
        }
    }

    /// Publishes without waiting (from the connection's own task), properties kept where possible.
    pub fn try_publish(
        &self,
        topic: String,
        qos: QoS,
        retain: bool,
        payload: Bytes,
        from: Option<&Message>,
    ) -> Result<(), SendError> {
        match self {
            Client::V5(c) => {
                let properties = m5::PublishProperties {
                    correlation_data: from.and_then(|m| m.correlation_data.clone()),
                    response_topic: from.and_then(|m| m.response_topic.clone()),
                    ..Default::default()
                };
                c.try_publish_with_properties(topic, q5(qos), retain, payload, properties).map_err(|e| e.to_string())
            }
            Client::V4(c) => c.try_publish(topic, q4(qos), retain, payload).map_err(|e| e.to_string()),
        }
    }

    pub fn try_subscribe_many(&self, filters: Vec<(String, QoS)>) -> Result<(), SendError> {
        match self {
            Client::V5(c) => c
                .try_subscribe_many(filters.into_iter().map(|(f, q)| m5::Filter::new(f, q5(q))))
                .map_err(|e| e.to_string()),
            Client::V4(c) => c
                .try_subscribe_many(filters.into_iter().map(|(f, q)| rumqttc::SubscribeFilter::new(f, q4(q))))
                .map_err(|e| e.to_string()),
        }
    }

    pub fn try_unsubscribe(&self, filter: String) {
        match self {
            Client::V5(c) => drop(c.try_unsubscribe(filter)),
            Client::V4(c) => drop(c.try_unsubscribe(filter)),
        }
    }

    pub async fn unsubscribe(&self, filter: String) {
        match self {
            Client::V5(c) => drop(c.unsubscribe(filter).await),
            Client::V4(c) => drop(c.unsubscribe(filter).await),
        }
    }

    pub async fn disconnect(&self) {
        match self {
            Client::V5(c) => drop(c.disconnect().await),
            Client::V4(c) => drop(c.disconnect().await),
        }
    }

    pub fn try_disconnect(&self) {
        match self {
            Client::V5(c) => drop(c.try_disconnect()),
            Client::V4(c) => drop(c.try_disconnect()),
        }
    }
}

/// What a poll of the connection brought.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// `retain_available`: false when the broker said it keeps no retained messages (MQTT 5).
    ConnAck {
        session_present: bool,
        retain_available: bool,
    },
    SubAck {
        refused: Option<String>,
    },
    UnsubAck,
    Publish(Message),
    /// The broker sent DISCONNECT (MQTT 5).
    Disconnect(String),
    /// Our own DISCONNECT left: the connection is over.
    Closed,
    Other,
}

/// A failed poll; the next poll reconnects.
#[derive(Debug)]
pub(crate) struct PollError {
    /// The broker refused our credentials.
    pub refused_credentials: bool,
    pub text: String,
}

/// The connection's event loop of either version.
pub(crate) enum EventLoop {
    V5(Box<rumqttc::v5::EventLoop>),
    V4(Box<rumqttc::EventLoop>),
}

/// A connection error of either protocol version, telling refused credentials apart.
macro_rules! poll_error {
    ($e:expr, $error:ident, $code:path) => {{
        let e = $e;
        let refused_credentials = {
            use $code as Code;
            matches!(&e, $error::ConnectionRefused(Code::BadUserNamePassword | Code::NotAuthorized))
        };
        PollError { refused_credentials, text: e.to_string() }
    }};
}

impl EventLoop {
    pub async fn poll(&mut self) -> Result<Incoming, PollError> {
        match self {
            EventLoop::V5(eventloop) => {
                use rumqttc::v5::{ConnectionError, Event};
                match eventloop.poll().await {
                    Ok(Event::Incoming(m5::Packet::ConnAck(ack))) => {
                        let retain = ack.properties.as_ref().and_then(|p| p.retain_available);
                        Ok(Incoming::ConnAck {
                            session_present: ack.session_present,
                            retain_available: retain != Some(0),
                        })
                    }
                    Ok(Event::Incoming(m5::Packet::SubAck(ack))) => {
                        let refused =
                            ack.return_codes.iter().any(|c| !matches!(c, m5::SubscribeReasonCode::Success(_)));
                        Ok(Incoming::SubAck { refused: refused.then(|| format!("{:?}", ack.return_codes)) })
                    }
                    Ok(Event::Incoming(m5::Packet::UnsubAck(_))) => Ok(Incoming::UnsubAck),
                    Ok(Event::Incoming(m5::Packet::Publish(p))) => {
                        let properties = p.properties.as_ref();
                        Ok(Incoming::Publish(Message {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload.clone(),
                            retain: p.retain,
                            correlation_data: properties.and_then(|x| x.correlation_data.clone()),
                            response_topic: properties.and_then(|x| x.response_topic.clone()),
                            raw: Box::new(Raw::V5(p)),
                        }))
                    }
                    Ok(Event::Incoming(m5::Packet::Disconnect(d))) => {
                        Ok(Incoming::Disconnect(format!("{:?}", d.reason_code)))
                    }
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Ok(Incoming::Closed),
                    Ok(_) => Ok(Incoming::Other),
                    Err(e) => Err(poll_error!(e, ConnectionError, m5::ConnectReturnCode)),
                }
            }
            EventLoop::V4(eventloop) => {
                use rumqttc::{ConnectionError, Event, Packet};
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                        Ok(Incoming::ConnAck { session_present: ack.session_present, retain_available: true })
                    }
                    Ok(Event::Incoming(Packet::SubAck(ack))) => {
                        let refused =
                            ack.return_codes.iter().any(|c| !matches!(c, rumqttc::SubscribeReasonCode::Success(_)));
                        Ok(Incoming::SubAck { refused: refused.then(|| format!("{:?}", ack.return_codes)) })
                    }
                    Ok(Event::Incoming(Packet::UnsubAck(_))) => Ok(Incoming::UnsubAck),
                    Ok(Event::Incoming(Packet::Publish(p))) => Ok(Incoming::Publish(Message {
                        topic: p.topic.clone(),
                        payload: p.payload.clone(),
                        retain: p.retain,
                        correlation_data: None,
                        response_topic: None,
                        raw: Box::new(Raw::V4(p)),
                    })),
                    Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => Ok(Incoming::Closed),
                    Ok(_) => Ok(Incoming::Other),
                    Err(e) => Err(poll_error!(e, ConnectionError, rumqttc::ConnectReturnCode)),
                }
            }
        }
    }
}
