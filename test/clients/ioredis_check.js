// ioredis (npm) against a paxoskv cluster, used the way Node applications
// use it: multi/exec, pipelines, WATCH retry loops, Lua commands
// (defineCommand, what queue and lock libraries build on), scan streams,
// expiry, hashes, lists, sets.
//
// Usage: node ioredis_check.js PORT [PORT...]   (NODE_PATH: ioredis)
// Exits 0 when every check passed.
"use strict";
const Redis = require("ioredis");

const ports = process.argv.slice(2).map(Number);
const failures = [];
function check(what, cond) {
  if (!cond) {
    failures.push(what);
    console.log("FAILED:", what);
  }
}
const eq = (x, y) => JSON.stringify(x) === JSON.stringify(y);
const conn = (port, opts = {}) =>
  new Redis({ host: "127.0.0.1", port, maxRetriesPerRequest: 3,
              connectionName: "ioredis-check", ...opts });

async function bump(client, n) {
  for (let i = 0; i < n; ++i) {
    for (;;) {
      await client.watch("i:counter");
      const v = Number((await client.get("i:counter")) || 0);
      const res = await client.multi().set("i:counter", v + 1).exec();
      if (res !== null) break; // Someone else changed it: again.
    }
  }
}

async function main() {
  const nodes = ports.map((p) => conn(p));
  const a = nodes[0], b = nodes[nodes.length - 1];
  await a.flushall();
  check("ping", (await a.ping()) === "PONG");
  check("client getname", (await a.client("GETNAME")) === "ioredis-check");

  const tx = await a.multi().set("i:a", "1").incr("i:a").get("i:a").exec();
  check("multi/exec", eq(tx, [[null, "OK"], [null, 2], [null, "2"]]));
  const p = b.pipeline();
  for (let i = 0; i < 500; ++i) p.rpush("i:list", String(i));
  const pr = await p.exec();
  check("pipeline in order", pr.length === 500 && pr[499][1] === 500);
  // A queuing error: EXECABORT, nothing applied.
  try {
    await a.multi().set("i:x", "1").call("NOSUCHCOMMAND").exec();
    check("EXECABORT raised", false);
  } catch (e) {
    check("EXECABORT", /EXECABORT/.test(String(e)));
  }
  check("EXECABORT applied nothing", (await a.exists("i:x")) === 0);

  await Promise.all(ports.map((port) => bump(conn(port), 20)));
  check("WATCH retry loops lose nothing",
        Number(await a.get("i:counter")) === 20 * ports.length);

  // A Lua command (EVALSHA, EVAL on NOSCRIPT), from every node.
  for (const n of nodes)
    n.defineCommand("takeIfEquals", {
      numberOfKeys: 1,
      lua: "if redis.call('GET', KEYS[1]) == ARGV[1] then " +
           "return redis.call('DEL', KEYS[1]) else return 0 end",
    });
  await a.set("i:lock", "token", "PX", 10000, "NX");
  check("lock held", (await b.set("i:lock", "other", "PX", 10000, "NX")) === null);
  check("release with a wrong token", (await b.takeIfEquals("i:lock", "nope")) === 0);
  check("release with the token", (await b.takeIfEquals("i:lock", "token")) === 1);

  await a.set("i:ttl", "v", "EX", 100);
  const ttl = await b.ttl("i:ttl");
  check("ttl", ttl >= 98 && ttl <= 100);
  await a.hset("i:h", { f1: "1", f2: "2" });
  check("hgetall", eq(await b.hgetall("i:h"), { f1: "1", f2: "2" }));
  await a.sadd("i:s", "x", "y");
  check("smembers", eq((await b.smembers("i:s")).sort(), ["x", "y"]));
  check("lpop count", eq(await a.lpop("i:list", 2), ["0", "1"]));

  const many = a.pipeline();
  for (let i = 0; i < 200; ++i) many.set("iscan:" + i, String(i));
  await many.exec();
  const seen = new Set();
  await new Promise((resolve, reject) => {
    const s = b.scanStream({ match: "iscan:*", count: 13 });
    s.on("data", (keys) => keys.forEach((k) => seen.add(k)));
    s.on("end", resolve);
    s.on("error", reject);
  });
  check("scanStream", seen.size === 200);
  try {
    await a.select(1);
    check("SELECT 1 refused", false);
  } catch (e) {
    check("SELECT 1 error", /DB index/.test(String(e)));
  }
  const info = await a.info("replication");
  check("info replication", /role:(master|slave)/.test(info));
  nodes.forEach((n) => n.disconnect());
}

main().then(
  () => {
    if (failures.length > 0) {
      console.log(failures.length + " check(s) failed");
      process.exit(1);
    }
    console.log("ioredis: all checks passed");
    process.exit(0);
  },
  (e) => {
    console.log("FAILED with an exception:", e);
    process.exit(1);
  });
