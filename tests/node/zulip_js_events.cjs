// zulip-js (npm) registers an event queue, sees a member added to a group
// through the same client, and deletes its queue; prints
// "zulip-js events checks passed" or exits non-zero with what it saw.
//
//   node zulip_js_events.cjs SITE EMAIL API_KEY GROUP_ID USER_ID
const path = require("path");
const zulipInit = require(path.join(process.env.NODE_PATH, "zulip-js"));

const [site, email, apiKey, group, user] = process.argv.slice(2);

function expect(condition, detail) {
  if (!condition) {
    console.error("CHECK FAILED:", JSON.stringify(detail));
    process.exit(1);
  }
}

(async () => {
  const client = await zulipInit({ username: email, apiKey, realm: site });
  const registered = await client.queues.register({ event_types: ["user_group"] });
  expect(registered.result === "success" && registered.queue_id, registered);
  expect(registered.last_event_id === -1, registered);
  const added = await client.callEndpoint(`/user_groups/${group}/members`, "POST", {
    add: JSON.stringify([Number(user)]),
  });
  expect(added.result === "success", added);
  // A blocking poll returns as soon as an event is there: no race with a
  // busy server (fifty non-blocking polls could all come too early).
  let seen = [];
  for (let i = 0; i < 5 && !seen.some((e) => e.op === "add_members"); i++) {
    const polled = await client.events.retrieve({
      queue_id: registered.queue_id,
      last_event_id: -1,
    });
    expect(polled.result === "success", polled);
    seen = polled.events;
  }
  const event = seen.find((e) => e.op === "add_members");
  expect(
    event && event.type === "user_group" && event.group_id === Number(group) &&
      JSON.stringify(event.user_ids) === JSON.stringify([Number(user)]) && event.id === 0,
    seen,
  );
  const deleted = await client.queues.deregister({ queue_id: registered.queue_id });
  expect(deleted.result === "success", deleted);
  const gone = await client.events.retrieve({ queue_id: registered.queue_id, last_event_id: -1 });
  expect(gone.code === "BAD_EVENT_QUEUE_ID" && gone.queue_id === registered.queue_id, gone);
  console.log("zulip-js events checks passed");
})().catch((err) => {
  console.error("zulip-js failed:", err);
  process.exit(1);
});
