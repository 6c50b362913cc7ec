#!/bin/sh
# The official redis image's start, as far as the compose stack relies on it: redis-server
# as user redis, reachable from the other containers (protected mode off when no
# configuration file is given, as the official image does).
set -eu
if [ "${1:-}" = "redis-server" ]; then
  case " $* " in
    *" --protected-mode "*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
  if [ "$(id -u)" = 0 ]; then
    cd /var/lib/redis
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
