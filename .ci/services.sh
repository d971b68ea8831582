#!/usr/bin/env bash
# Starts Redis, PostgreSQL, MariaDB and Memcached when they are not already running, with Debian's own
# commands. Tests that need a service skip locally when it is unreachable and fail when CI=true.
set -uo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
wait_for() { # name, command
  for _ in $(seq 1 30); do if eval "$2" >/dev/null 2>&1; then echo "$1: up"; return 0; fi; sleep 1; done
  echo "$1: NOT reachable"; return 1
}
tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! tcp_open 6379; then
  if have redis-server; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
fi
wait_for redis "tcp_open 6379" || true

if ! tcp_open 5432; then
  if have pg_ctlcluster && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
wait_for postgres "tcp_open 5432" || true

if ! tcp_open 3306; then
  if [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  fi
fi
wait_for mariadb "tcp_open 3306" || true

if ! tcp_open 11211; then
  if ! have memcached && [ "$(id -u)" = 0 ]; then
    (apt-get install -y memcached >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y memcached >/dev/null 2>&1; }) || true
  fi
  if have memcached; then
    memcached -d -u "$(id -un)" -l 127.0.0.1 -p 11211 -m 64 || true
  fi
fi
wait_for memcached "tcp_open 11211" || true
exit 0
