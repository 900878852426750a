#!/usr/bin/env bash
# Creates the login user (SSH_USER, default "backup"; optional SSH_UID) with SSH_AUTHORIZED_KEY as
# its only way in, generates fresh host keys, then execs the command (sshd in the foreground).
set -euo pipefail

user="${SSH_USER:-backup}"
if [ -z "${SSH_AUTHORIZED_KEY:-}" ]; then
  echo >&2 'entrypoint: SSH_AUTHORIZED_KEY must hold the public key allowed to log in'
  exit 1
fi

home="/home/$user"
if ! id "$user" >/dev/null 2>&1; then
  useradd --create-home --home-dir "$home" --shell /bin/bash ${SSH_UID:+--uid "$SSH_UID"} "$user"
else
  # Debian already has system users such as "backup" (nologin shell, home /var/backups owned by
  # root): give it a login shell and a home of its own so rsync/ssh work as for a normal user.
  usermod --shell /bin/bash --home "$home" "$user"
fi
group="$(id -gn "$user")"
install -d -m 755 -o "$user" -g "$group" "$home"
# "*" rather than the default "!": no password works, but the account is not "locked", which
# would make sshd refuse even key logins.
usermod -p '*' "$user"
install -d -m 700 -o "$user" -g "$group" "$home/.ssh"
printf '%s\n' "$SSH_AUTHORIZED_KEY" >"$home/.ssh/authorized_keys"
chown "$user:$group" "$home/.ssh/authorized_keys"
chmod 600 "$home/.ssh/authorized_keys"

ssh-keygen -A >/dev/null
exec "$@"
