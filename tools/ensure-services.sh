#!/usr/bin/env bash
# Make sure the database servers the functional suite uses are up (they usually are on this
# machine kind; CI must not assume it).
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if ! up 3306; then
  echo "starting MariaDB" >&2
  # NOTE: /run is emptied on reboot; mariadbd cannot create its socket without this dir.
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql 2>/dev/null \
    || (command -v mysqld_safe >/dev/null && (mysqld_safe >/dev/null 2>&1 &))
  for _ in $(seq 1 60); do up 3306 && break; sleep 1; done
fi
if ! up 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  echo "starting PostgreSQL" >&2
  # pg_ctlcluster recreates /run/postgresql itself; its errors are worth seeing.
  for conf in /etc/postgresql/*/main; do
    [ -d "$conf" ] || continue
    pg_ctlcluster --skip-systemctl-redirect "$(basename "$(dirname "$conf")")" main start || true
    for _ in $(seq 1 30); do up 5432 && break; sleep 1; done
    up 5432 && break
  done
fi
if ! up 5672 && command -v rabbitmq-server >/dev/null 2>&1; then
  echo "starting RabbitMQ" >&2   # tests/functional/test_notifications.py (guest/guest)
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 60); do up 5672 && break; sleep 1; done
fi
# Tools some tests use when present (they skip or fall back without them): memcached for the
# shared token cache of keystone mode, qemu-img for real qcow2 test images, a browser for
# Horizon's. Best effort.
need=()
command -v memcached >/dev/null 2>&1 || need+=(memcached)
command -v qemu-img >/dev/null 2>&1 || need+=(qemu-utils)
# Debian's Chromium and its chromedriver for the Horizon browser tests (tests/functional/horizon).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${need[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null 2>&1 || \
    { apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1 && \
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null 2>&1; } || \
    echo "could not install ${need[*]}; the tests that need them will skip" >&2
fi
up 3306 || { echo "MariaDB is not reachable on 127.0.0.1:3306" >&2; exit 1; }
# NOTE: the DB contract tests skip PostgreSQL only when no server listens; where PostgreSQL
# is installed, a server that would not start must fail the run rather than turn into skips.
if command -v pg_ctlcluster >/dev/null 2>&1 && ! up 5432; then
  echo "PostgreSQL is installed but not reachable on 127.0.0.1:5432" >&2; exit 1
fi
exit 0
