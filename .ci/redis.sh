#!/usr/bin/env bash
# redis-server for the Redis ledger tests: install the Debian package when it is missing, start one
# on 127.0.0.1 (no persistence) and wait until it answers.
#
# The tests use ROUTER_TEST_REDIS_URL when it is set (127.0.0.1 only); otherwise they start a
# private redis-server of their own, which works as soon as this script has installed the package.
# To point them at this server instead: export ROUTER_TEST_REDIS_URL=redis://127.0.0.1:6390/0
set -euo pipefail

port="${ROUTER_TEST_REDIS_PORT:-6390}"

if ! command -v redis-server >/dev/null 2>&1; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq redis-server >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
        --dir /tmp --pidfile "/tmp/router-test-redis-$port.pid" \
        --logfile "/tmp/router-test-redis-$port.log"
    for _ in $(seq 100); do
        if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then
            break
        fi
        sleep 0.1
    done
fi

redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null
echo "redis-server answers on redis://127.0.0.1:$port/0"
