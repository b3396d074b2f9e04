// Follows cohort's event stream with the `eventsource` package from npm (the
// WHATWG EventSource for Node, which reconnects by itself and sends
// Last-Event-ID when it does), printing one JSON line per event, per open and
// per error, until it sees a group named DONE created.
//
//   node stream_eventsource.cjs URL TOKEN TYPES DONE
//
// TYPES is the comma-separated list of event types to listen for (SSE events
// with a name reach only listeners for that name).
const path = require("path");
const { EventSource } = require(path.join(process.env.NODE_PATH, "eventsource"));

const [url, token, types, done] = process.argv.slice(2);
const print = (line) => process.stdout.write(JSON.stringify(line) + "\n");

const source = new EventSource(url, {
  fetch: (input, init) =>
    fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
});
let opens = 0;
source.addEventListener("open", () => print({ open: ++opens }));
source.addEventListener("error", (e) => print({ error: String(e.message || "connection lost") }));
for (const type of types.split(",")) {
  source.addEventListener(type, (e) => {
    const data = JSON.parse(e.data);
    print({ id: e.lastEventId, type: e.type, same_id: data.id === e.lastEventId });
    if (type === "group.created" && data.group && data.group.name === done) {
      source.close();
      process.exit(0);
    }
  });
}
setTimeout(() => {
  print({ timeout: true });
  process.exit(2);
}, 60000);
