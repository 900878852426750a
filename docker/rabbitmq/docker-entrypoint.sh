#!/usr/bin/env bash
# Applies RABBITMQ_DEFAULT_USER / RABBITMQ_DEFAULT_PASS / RABBITMQ_DEFAULT_VHOST (as the official
# image documents them) by writing a conf.d snippet, then execs the command (rabbitmq-server).
set -euo pipefail

conf=/etc/rabbitmq/conf.d/10-defaults.conf
: >"$conf"
if [ -n "${RABBITMQ_DEFAULT_USER:-}" ]; then echo "default_user = $RABBITMQ_DEFAULT_USER" >>"$conf"; fi
if [ -n "${RABBITMQ_DEFAULT_PASS:-}" ]; then echo "default_pass = $RABBITMQ_DEFAULT_PASS" >>"$conf"; fi
if [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ]; then echo "default_vhost = $RABBITMQ_DEFAULT_VHOST" >>"$conf"; fi
chown rabbitmq:rabbitmq "$conf"

exec "$@"
