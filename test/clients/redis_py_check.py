#!/usr/bin/python3
"""redis-py (Debian's python3-redis) against a paxoskv cluster, used the way
applications use it: pipelines and transactions, WATCH retry loops, Lock
with a timeout, scan iterators, expiry, hashes, lists, sets, INFO, CLIENT.

Usage: redis_py_check.py PORT [PORT...]   (one client port per node)
Exits 0 when every check passed; prints what failed otherwise.
"""
import sys
import threading
import time

import redis

ports = [int(p) for p in sys.argv[1:]]
assert ports, __doc__
failures = []


def check(what, cond):
    if not cond:
        failures.append(what)
        print("FAILED:", what, flush=True)


def conn(port, **kw):
    return redis.Redis(host="127.0.0.1", port=port, decode_responses=True,
                       socket_timeout=30, **kw)


nodes = [conn(p, client_name="paxoskv-check", db=0) for p in ports]
a, b = nodes[0], nodes[-1]
a.flushall()

# Connection: what redis-py sends on connect and what apps call.
check("ping", a.ping() is True)
check("client_getname", a.client_getname() == "paxoskv-check")
check("client_id", isinstance(a.client_id(), int))
check("echo", a.echo("hi") == "hi")
check("config_get", a.config_get("maxmemory") == {"maxmemory": "0"})
check("time", isinstance(a.time()[0], int))
info = a.info()
check("info connected_clients", info.get("connected_clients", 0) >= 1)
check("info used_memory", info.get("used_memory", 0) > 0)
check("info replication role",
      a.info("replication").get("role") in ("master", "slave"))
try:
    conn(ports[0], db=1).ping()
    check("db=1 refused", False)
except redis.ResponseError as e:
    check("db=1 refused with DB index error", "DB index" in str(e))

# A transaction (redis-py's default pipeline) and a long plain pipeline.
with a.pipeline() as p:
    p.set("t:a", 1).incr("t:a").get("t:a")
    check("pipeline transaction", p.execute() == [True, 2, "2"])
with b.pipeline(transaction=False) as p:
    for i in range(500):
        p.rpush("t:list", i)
    res = p.execute()
    check("plain pipeline in order", res == list(range(1, 501)))
check("lrange after pipeline",
      b.lrange("t:list", 0, 4) == ["0", "1", "2", "3", "4"])
# An error inside a transaction does not stop the others.
a.set("t:str", "x")
with a.pipeline() as p:
    p.incr("t:str").set("t:after", "ok")
    try:
        p.execute()
        check("error inside EXEC raises", False)
    except redis.ResponseError:
        pass
check("EXEC ran the rest", a.get("t:after") == "ok")


# WATCH retry loops from two nodes at once: no increment is lost.
def bump(client, n):
    for _ in range(n):
        def txn(pipe):
            v = int(pipe.get("t:counter") or 0)
            pipe.multi()
            pipe.set("t:counter", v + 1)
        client.transaction(txn, "t:counter")


threads = [threading.Thread(target=bump, args=(conn(p), 25)) for p in ports]
for t in threads:
    t.start()
for t in threads:
    t.join()
check("WATCH retry loops lose nothing",
      int(a.get("t:counter")) == 25 * len(ports))

# Lock with a timeout: exclusive across nodes, released by its Lua script,
# and gone by itself when its holder never releases it.
lock1 = a.lock("t:lock", timeout=10, blocking_timeout=5)
check("lock acquired", lock1.acquire())
lock2 = b.lock("t:lock", timeout=10, blocking_timeout=0.3)
check("lock exclusive from another node", not lock2.acquire())
lock1.extend(5)
check("lock extended", a.pttl("t:lock") > 10000)
lock1.release()
check("lock taken after release", lock2.acquire(blocking_timeout=5))
lock2.release()
stale = a.lock("t:lock2", timeout=0.3)
check("short lock acquired", stale.acquire())
later = b.lock("t:lock2", timeout=5, blocking_timeout=10)
check("lock freed by its timeout", later.acquire())
later.release()

# Expiry.
a.set("t:ttl", "v", ex=100)
check("ttl", 98 <= a.ttl("t:ttl") <= 100)
a.setex("t:setex", 50, "v")
check("pttl", 0 < a.pttl("t:setex") <= 50000)
check("persist", a.persist("t:setex") and a.ttl("t:setex") == -1)
a.set("t:short", "v", px=50)
deadline = time.time() + 10
while a.exists("t:short") and time.time() < deadline:
    time.sleep(0.02)
check("short expiry", not a.exists("t:short") and b.get("t:short") is None)

# Types.
a.hset("t:h", mapping={"f1": "1", "f2": "2"})
check("hgetall", b.hgetall("t:h") == {"f1": "1", "f2": "2"})
check("hincrby", a.hincrby("t:h", "f1", 5) == 6)
a.sadd("t:s1", "x", "y", "z")
a.sadd("t:s2", "y", "z", "w")
check("sinter", b.sinter("t:s1", "t:s2") == {"y", "z"})
try:
    a.lpush("t:h", "x")
    check("WRONGTYPE raised", False)
except redis.ResponseError as e:
    check("WRONGTYPE text", str(e).startswith("WRONGTYPE"))

# Scan iterators see every key that stays.
with a.pipeline(transaction=False) as p:
    for i in range(300):
        p.set("scan:%d" % i, i)
    p.execute()
check("scan_iter",
      set(b.scan_iter(match="scan:*", count=17))
      == {"scan:%d" % i for i in range(300)})
a.hset("t:bigh", mapping={"f%d" % i: i for i in range(50)})
check("hscan_iter", len(dict(b.hscan_iter("t:bigh"))) == 50)
check("sscan_iter", set(b.sscan_iter("t:s1")) == {"x", "y", "z"})
check("dbsize", a.dbsize() >= 300)

# A script registered once, called by EVALSHA from another node.
incr_by = a.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
check("script", incr_by(keys=["t:sc"], args=[5], client=b) == 5)

if failures:
    print("%d check(s) failed" % len(failures))
    sys.exit(1)
print("redis-py: all checks passed")
