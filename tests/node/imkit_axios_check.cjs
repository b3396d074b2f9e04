// Drive cohort's IMKIT face with axios, as IMKIT's documentation examples do.
// Run by tests/imkit_axios.rs:  node imkit_axios_check.cjs BASE_URL IM_API_KEY
"use strict";
const axios = require("axios");
const assert = require("node:assert/strict");

const [base, apiKey] = process.argv.slice(2);
const headers = { "IM-API-KEY": apiKey };
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function envelope(response) {
  assert.equal(response.status, 200);
  assert.equal(response.data.RC, 0, JSON.stringify(response.data));
  assert.equal(response.data.RM, "OK");
  return response.data.result;
}

async function main() {
  // Clients first (create-or-update), as a backend registers its users.
  for (const [id, nickname, email] of [
    ["user001", "Test AB User", "test@example.com"],
    ["user002", "Alice", "alice@example.com"],
    ["user003", "Bob AB", undefined],
  ]) {
    const created = envelope(
      await axios.post(
        `${base}/admin/clients`,
        { _id: id, nickname, avatarUrl: "https://example.com/avatar.jpg", ...(email && { email }) },
        { headers: { ...headers, "Content-Type": "application/json; charset=utf-8" } }
      )
    );
    assert.equal(created._id, id);
    assert.equal(created.nickname, nickname);
  }

  // List groups with a limit (the documentation's example).
  const empty = envelope(await axios.get(`${base}/admin/groups`, { params: { limit: 50 }, headers }));
  assert.equal(typeof empty.totalCount, "number");
  assert.ok(Array.isArray(empty.data));

  // Create a group.
  const group = envelope(
    await axios.post(
      `${base}/admin/groups`,
      { _id: "sales-team", nickname: "Sales Team", avatarUrl: "https://example.com/team.jpg", members: ["user001", "user002"] },
      { headers }
    )
  );
  assert.equal(group._id, "sales-team");
  assert.equal(group.nickname, "Sales Team");
  assert.deepEqual(group.members, ["user001", "user002"]);
  assert.match(group.createdAt, ISO_MS);
  assert.match(group.updatedAt, ISO_MS);

  const listed = envelope(await axios.get(`${base}/admin/groups`, { params: { limit: 50 }, headers }));
  assert.equal(listed.totalCount, empty.totalCount + 1);
  const found = listed.data.find((g) => g._id === "sales-team");
  assert.ok(found, JSON.stringify(listed));
  for (const key of ["_id", "nickname", "avatarUrl", "members"]) assert.ok(key in found, key);

  // List clients with q (the documentation's example).
  const search = envelope(
    await axios.get(`${base}/admin/clients`, {
      params: { q: JSON.stringify({ nickname: { $regex: ".*AB.*" } }), limit: 20, skip: 0 },
      headers,
    })
  );
  assert.deepEqual(search.data.map((c) => c._id).sort(), ["user001", "user003"]);
  assert.equal(search.totalCount, 2);
  const withEmail = envelope(
    await axios.get(`${base}/admin/clients`, {
      params: { q: JSON.stringify({ nickname: { $regex: ".*ab.*", $options: "i" }, email: { $exists: true } }) },
      headers,
    })
  );
  assert.deepEqual(withEmail.data.map((c) => c._id), ["user001"]);
  assert.equal(withEmail.data[0].email, "test@example.com");

  // Errors arrive as axios errors carrying IMKIT's envelope.
  const failures = [
    [() => axios.get(`${base}/admin/groups`, { headers: { "IM-API-KEY": "wrong" } }), 401, "INVALID_API_KEY"],
    [() => axios.post(`${base}/admin/groups`, { _id: "x" }, { headers }), 400, "MISSING_PARAMETER"],
    [() => axios.post(`${base}/admin/groups`, { _id: "sales-team", nickname: "Again" }, { headers }), 409, "GROUP_ALREADY_EXISTS"],
    [() => axios.get(`${base}/admin/clients`, { params: { q: "{not json" }, headers }), 400, "INVALID_QUERY"],
    [() => axios.get(`${base}/admin/clients`, { params: { limit: 500 }, headers }), 413, "RESULT_TOO_LARGE"],
  ];
  for (const [call, status, code] of failures) {
    await assert.rejects(call, (err) => {
      assert.equal(err.response.status, status);
      assert.equal(err.response.data.RC, status);
      assert.equal(err.response.data.error.code, code, JSON.stringify(err.response.data));
      assert.equal(typeof err.response.data.error.message, "string");
      return true;
    });
  }
  console.log("imkit axios checks passed");
}

main().catch((err) => {
  console.error(err && err.response ? JSON.stringify(err.response.data) : err);
  process.exit(1);
});
