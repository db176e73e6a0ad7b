#!/usr/bin/env bash
# Checks deploy/mosquitto/{mosquitto.conf,acl,test.passwd} against a real Mosquitto 2.0.
#
#   deploy/mosquitto/verify.sh            # port 18883, or PORT=18999 deploy/mosquitto/verify.sh
#
# Starts its own mosquitto on 127.0.0.1:$PORT from a copy of the files in a temporary
# directory (port and paths rewritten with sed), runs mosquitto_sub/mosquitto_pub
# against it, prints one PASS/FAIL line per check and stops only the processes it
# started. Exit status 0 when every check passed. Protocol-level codes (CONNACK,
# SUBACK, PUBACK reason codes) are checked by verify_codes.py (raw MQTT over a socket,
# python3 standard library only), which is run at the end.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-18883}
DIR=$(mktemp -d /tmp/mqttspec-mosquitto.XXXXXX)
# Started as root, mosquitto drops to user "mosquitto" before reading the files.
chmod 755 "$DIR"
PIDS=()
FAILS=0
BROKER=

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$BROKER" ]; then kill "$BROKER" 2>/dev/null; wait "$BROKER" 2>/dev/null; fi
    wait 2>/dev/null
    if [ "${KEEP:-0}" = 1 ]; then echo "files kept in $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

cp "$HERE/acl" "$HERE/test.passwd" "$DIR/"
chmod 644 "$DIR/acl" "$DIR/test.passwd"
sed -e "s|^listener 1883 127.0.0.1\$|listener $PORT 127.0.0.1|" \
    -e "s|^password_file .*|password_file $DIR/test.passwd|" \
    -e "s|^acl_file .*|acl_file $DIR/acl|" \
    -e "s|^persistence true|persistence false|" \
    "$HERE/mosquitto.conf" > "$DIR/mosquitto.conf"

mosquitto -c "$DIR/mosquitto.conf" -v > "$DIR/broker.log" 2>&1 &
BROKER=$!
for _ in $(seq 50); do
    grep -q "mosquitto version .* running" "$DIR/broker.log" && break
    sleep 0.1
done
if ! grep -q "running" "$DIR/broker.log"; then
    cat "$DIR/broker.log"; echo "FAIL: broker did not start"; exit 1
fi
echo "broker pid $BROKER on 127.0.0.1:$PORT, files in $DIR"

C=(-h 127.0.0.1 -p "$PORT")
SRV=(-u mqttspec -P mqttspec)
CLI=(-u client -P client)

wait_for() { # file pattern [tenths]
    local n=${3:-50}
    for _ in $(seq "$n"); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# sub NAME CREDS... -i ID -t FILTER ...: background mosquitto_sub, waits for SUBACK
sub() {
    local name=$1; shift
    # stdbuf: line-buffered output, so the SUBACK line is visible at once
    stdbuf -oL mosquitto_sub "${C[@]}" -q 1 -v -d "$@" > "$DIR/$name.out" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    echo "$pid" > "$DIR/$name.pid"
    wait_for "$DIR/$name.out" "^Subscribed" || echo "  (no SUBACK for $name: $(tr '\n' ' ' < "$DIR/$name.out"))"
}
stop() { local pid; pid=$(cat "$DIR/$1.pid"); kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
pub() { mosquitto_pub "${C[@]}" -q 1 "$@" >> "$DIR/pub.log" 2>&1; }
# messages a subscriber received ("topic payload" lines, debug lines removed)
got() { grep -v -e '^Client ' -e '^Subscribed' "$DIR/$1.out" || true; }

check() { # description expected observed
    if [ "$2" = "$3" ]; then echo "PASS  $1"; else
        echo "FAIL  $1"; echo "      expected: $(printf '%s' "$2" | tr '\n' '|')"
        echo "      observed: $(printf '%s' "$3" | tr '\n' '|')"; FAILS=$((FAILS + 1)); fi
}

# --- 1. requests reach the server, also through a shared subscription ----------
sub srv "${SRV[@]}" -i srv-1 -t 'spec/+/request' -t 'spec/+/status'
sub srvshare "${SRV[@]}" -i srv-2 -t '$share/mqttspec/spec/+/request'
pub "${CLI[@]}" -i alice -t spec/alice/request -m own-request
sleep 0.5
check "alice -> spec/alice/request reaches server on spec/+/request" \
    "spec/alice/request own-request" "$(got srv)"
check "alice -> spec/alice/request reaches server on \$share/mqttspec/spec/+/request" \
    "spec/alice/request own-request" "$(got srvshare)"

# --- 2. a request on another client's topic is dropped -------------------------
pub "${CLI[@]}" -i alice -t spec/bob/request -m spoofed-request
pub "${CLI[@]}" -i alice -t spec/alice/request/x -m deeper-request
pub "${CLI[@]}" -i alice -t spec/alice/response -m self-forged-response
sleep 0.5
check "alice -> spec/bob/request and spec/alice/request/x not delivered to server" \
    "spec/alice/request own-request" "$(got srv)"
check "broker logged the denied PUBLISH from alice" yes \
    "$(grep -q "Denied PUBLISH from alice .*'spec/bob/request'" "$DIR/broker.log" && echo yes || echo no)"

# --- 3. alice cannot read other clients' replies, notifications or requests ----
server_publishes() {
    for t in spec/bob/response spec/bob/notify/x spec/bob/response/foo \
             spec/alice/response spec/alice/notify/x spec/alice/response/foo; do
        pub "${SRV[@]}" -i srv-pub -t "$t" -m "from-server"
    done
    pub "${CLI[@]}" -i bob -t spec/bob/request -m bob-request
    pub "${CLI[@]}" -i alice -t spec/alice/request -m alice-request
    sleep 0.5
}
own_all=$'spec/alice/response from-server\nspec/alice/notify/x from-server\nspec/alice/response/foo from-server'
declare -A EXPECT=(
    ['spec/bob/response']=''
    ['spec/bob/notify/#']=''
    ['spec/+/response']='spec/alice/response from-server'
    ['spec/+/request']=''
    ['spec/+/+']='spec/alice/response from-server'
    ['spec/#']="$own_all"
    ['#']="$own_all"
    ['+/+/+']='spec/alice/response from-server'
    ['$share/g/spec/#']="$own_all"
    ['spec/alice/response']='spec/alice/response from-server'
    ['spec/alice/response/#']=$'spec/alice/response from-server\nspec/alice/response/foo from-server'
    ['spec/alice/notify/#']='spec/alice/notify/x from-server'
)
for f in 'spec/bob/response' 'spec/bob/notify/#' 'spec/+/response' 'spec/+/request' 'spec/+/+' \
         'spec/#' '#' '+/+/+' '$share/g/spec/#' \
         'spec/alice/response' 'spec/alice/response/#' 'spec/alice/notify/#'; do
    sub spy "${CLI[@]}" -i alice -t "$f"
    suback=$(grep -m1 '^Subscribed' "$DIR/spy.out")
    server_publishes
    stop spy
    check "alice subscribed to '$f' ($suback) receives only her own topics" \
        "${EXPECT[$f]}" "$(got spy)"
done

# --- 4. clients cannot forge replies or notifications for others ---------------
sub bob "${CLI[@]}" -i bob -t 'spec/bob/response' -t 'spec/bob/response/#' -t 'spec/bob/notify/#'
pub "${CLI[@]}" -i alice -t spec/bob/response -m forged
pub "${CLI[@]}" -i alice -t spec/bob/notify/x -m forged
pub "${CLI[@]}" -i alice -t spec/bob/response/foo -m forged
sleep 0.5
check "alice -> spec/bob/response, spec/bob/notify/x, spec/bob/response/foo: bob receives nothing" \
    "" "$(got bob)"

# --- 5. client ids containing + # / -----------------------------------------------
: > "$DIR/pub.log"
for id in '+' '#' 'spec/#'; do
    sub weird "${CLI[@]}" -i "$id" -t '#' -t 'spec/#'
    pub "${SRV[@]}" -i srv-pub -t spec/bob/response -m from-server
    pub "${CLI[@]}" -i "$id" -t spec/bob/request -m "request-from-id-$id"
    sleep 0.5
    stop weird
    check "client id '$id' (wildcard id) subscribed to # and spec/#: receives nothing" "" "$(got weird)"
    check "client id '$id': its PUBLISH to spec/bob/request not delivered to server" \
        "" "$(got srv | grep -F "request-from-id-$id" || true)"
done
grep 'dangerous client id' "$DIR/broker.log" | cut -d' ' -f2- | sort -u | sed 's/^/      (broker log) /'

# '/' in the client id: Mosquitto accepts it and substitutes it into %c unchanged.
: > "$DIR/bob.out.before"; cp "$DIR/bob.out" "$DIR/bob.out.before"
pub "${CLI[@]}" -i 'bob/response' -t spec/bob/response/request -m 'forged-via-slash-id'
pub "${CLI[@]}" -i 'bob/notify' -t spec/bob/notify/status -m 'forged-via-slash-id'
pub "${CLI[@]}" -i 'bob/x' -t spec/bob/response -m 'forged-via-slash-id'
sleep 0.5
check "LIMITATION: client id 'bob/response' CAN publish spec/bob/response/request, 'bob/notify' CAN publish spec/bob/notify/status (bob receives both); 'bob/x' cannot publish spec/bob/response" \
    $'spec/bob/response/request forged-via-slash-id\nspec/bob/notify/status forged-via-slash-id' \
    "$(got bob | grep -F forged-via-slash-id || true)"
stop bob
sub slash "${CLI[@]}" -i 'bob/response' -t 'spec/#'
pub "${SRV[@]}" -i srv-pub -t spec/bob/response -m from-server
pub "${SRV[@]}" -i srv-pub -t spec/bob/response/response -m from-server
pub "${SRV[@]}" -i srv-pub -t spec/bob/notify/x -m from-server
sleep 0.5
stop slash
check "LIMITATION: client id 'bob/response' reads bob's spec/bob/response/response (an MQTT 5 response topic bob could choose), not spec/bob/response or spec/bob/notify/x" \
    "spec/bob/response/response from-server" "$(got slash)"

# --- 6. wrong password / unknown user / no credentials ------------------------------
out=$(mosquitto_sub "${C[@]}" -u client -P wrong -i alice -t x -W 3 2>&1); echo "$out" > "$DIR/badpw.out"
check "wrong password refused (mosquitto_sub, MQTT 3.1.1)" "Connection error: Connection Refused: not authorised." "$out"
out=$(mosquitto_sub "${C[@]}" -V 5 -u client -P wrong -i alice -t x -W 3 2>&1)
check "wrong password refused (mosquitto_sub, MQTT 5)" "Connection error: Not authorized" "$out"
out=$(mosquitto_sub "${C[@]}" -u nobody -P x -i alice -t x -W 3 2>&1)
check "unknown user refused" "Connection error: Connection Refused: not authorised." "$out"
out=$(mosquitto_sub "${C[@]}" -i alice -t x -W 3 2>&1)
check "anonymous refused" "Connection error: Connection Refused: not authorised." "$out"

# --- 7. Last Will -------------------------------------------------------------------
sub will "${CLI[@]}" -i alice -t spec/alice/response --will-topic spec/alice/status --will-payload offline --will-qos 1
{ kill -9 "$(cat "$DIR/will.pid")"; wait "$(cat "$DIR/will.pid")"; } 2>/dev/null
wait_for "$DIR/srv.out" "spec/alice/status offline" 30
check "alice's will on spec/alice/status (kill -9) reaches server on spec/+/status" \
    "spec/alice/status offline" "$(got srv | grep status || true)"
sub will "${CLI[@]}" -i alice -t spec/alice/response --will-topic spec/bob/status --will-payload offline-spoof --will-qos 1
{ kill -9 "$(cat "$DIR/will.pid")"; wait "$(cat "$DIR/will.pid")"; } 2>/dev/null
sleep 1
check "alice's will on spec/bob/status (kill -9) is not delivered" \
    "spec/alice/status offline" "$(got srv | grep status || true)"
sub will "${CLI[@]}" -V 5 -i alice -t spec/alice/response --will-topic spec/alice/status --will-payload offline-v5 --will-qos 1
{ kill -9 "$(cat "$DIR/will.pid")"; wait "$(cat "$DIR/will.pid")"; } 2>/dev/null
wait_for "$DIR/srv.out" "offline-v5" 30
check "MQTT 5 will on spec/alice/status reaches server" \
    "spec/alice/status offline-v5" "$(got srv | grep offline-v5 || true)"

# --- 8. retained request is replayed to a new server subscription -----------------
pub "${CLI[@]}" -i carol -r -t spec/carol/request -m retained-request
sub srv3 "${SRV[@]}" -i srv-3 -t 'spec/+/request'
sleep 0.5
stop srv3
check "NOTE: a retained request is replayed to every new server subscription" \
    "spec/carol/request retained-request" "$(got srv3)"
pub "${CLI[@]}" -i carol -r -n -t spec/carol/request   # clear it

# --- 9. packet size limit ---------------------------------------------------------
head -c 1048576 /dev/zero | tr '\0' a > "$DIR/1mib"
head -c 1200000 /dev/zero | tr '\0' a > "$DIR/big"
mosquitto_pub "${C[@]}" -q 1 "${CLI[@]}" -i alice -t spec/alice/request -f "$DIR/1mib" > "$DIR/p1.out" 2>&1
wait_for "$DIR/srv.out" "spec/alice/request aaaa" 30
check "1 MiB payload accepted and delivered to the server" yes \
    "$(grep -q 'spec/alice/request aaaa' "$DIR/srv.out" && echo yes || echo no)"
timeout 10 mosquitto_pub "${C[@]}" -q 1 "${CLI[@]}" -i alice -t spec/alice/request -f "$DIR/big" > "$DIR/p2.out" 2>&1
check "1.2 MB payload: broker disconnects the client (max_packet_size)" yes \
    "$(grep -q "Client alice disconnected due to oversize packet" "$DIR/broker.log" && echo yes || echo no)"

stop srv; stop srvshare

if command -v python3 > /dev/null; then
    python3 "$HERE/verify_codes.py" "$PORT" || FAILS=$((FAILS + 1))
else
    echo "SKIP  verify_codes.py (no python3)"
fi

echo
if [ "$FAILS" = 0 ]; then echo "all checks passed"; else echo "$FAILS check(s) FAILED"; fi
[ "$FAILS" = 0 ]
