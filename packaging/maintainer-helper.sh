#!/bin/sh
# guestagent package helper, installed as /usr/lib/guestagent/maintainer-helper
# and run as root by the .deb postinst and the .rpm %post. POSIX sh.
#
#   maintainer-helper configure install|upgrade
#
# After the package's files and the guestagent user are in place:
#   1. /etc/guestagent (0750) and its config (0640) become root:guestagent,
#      /var/lib/guestagent (0750) guestagent:guestagent;
#   2. `guestagent bootstrap` makes the MariaDB account guestagent@localhost
#      (unix_socket auth) when mysqld answers; otherwise it says how to later;
#   3. the service is started (install) or restarted (upgrade) only when
#      systemd runs and `guestagent check-config`, run as the service user,
#      accepts the config. Enabling is the caller's job (dpkg and rpm differ).
# Nothing here fails the package's installation: problems are reported.
set -u

PKG_USER=guestagent
CONF_DIR=/etc/guestagent
CONF=$CONF_DIR/guestagent.toml
STATE=/var/lib/guestagent
SOCKET=/run/mysqld/mysqld.sock
UNIT=guestagent.service
BIN=/usr/bin/guestagent

say() { echo "guestagent: $*"; }

fix_permissions() {
    install -d -m 0750 -o "$PKG_USER" -g "$PKG_USER" "$STATE"
    chown "$PKG_USER:$PKG_USER" "$STATE"
    chmod 0750 "$STATE"
    if [ -d "$CONF_DIR" ]; then
        chown "root:$PKG_USER" "$CONF_DIR"
        chmod 0750 "$CONF_DIR"
    fi
    if [ -f "$CONF" ]; then
        chown "root:$PKG_USER" "$CONF"
        chmod 0640 "$CONF"
    fi
}

run_bootstrap() {
    later="once mysqld runs, create the agent's MariaDB account as root with: guestagent bootstrap"
    if [ ! -S "$SOCKET" ]; then
        say "mysqld is not running here (no $SOCKET); $later"
        return 0
    fi
    rc=0
    out=$("$BIN" bootstrap 2>&1) || rc=$?
    case $rc in
        0) [ -n "$out" ] && echo "$out" ;;
        3) echo "$out" >&2; say "mysqld did not answer on $SOCKET; $later" ;;
        *) echo "$out" >&2; say "bootstrap failed (exit $rc); fix the cause, then run as root: guestagent bootstrap" ;;
    esac
    return 0
}

# check-config as the service user, so that file permissions count too.
config_ok() {
    if command -v setpriv >/dev/null 2>&1; then
        setpriv --reuid="$PKG_USER" --regid="$PKG_USER" --init-groups \
            "$BIN" check-config --config "$CONF" >/dev/null 2>"$1"
    else
        "$BIN" check-config --config "$CONF" >/dev/null 2>"$1"
    fi
}

start_if_configured() {
    action=$1
    err=$(mktemp)
    if config_ok "$err"; then
        valid=yes
    else
        valid=no
    fi
    reason=$(cat "$err")
    rm -f "$err"
    if [ ! -d /run/systemd/system ]; then
        if [ "$valid" = yes ]; then
            say "systemd is not running: $UNIT is enabled and starts at the next boot"
        else
            say "$CONF is not complete yet: ${reason#guestagent: }"
            say "set guest_id (and [amqp] url) in $CONF; $UNIT is enabled and starts at boot once check-config passes"
        fi
        return 0
    fi
    systemctl --system daemon-reload >/dev/null 2>&1 || true
    if [ "$valid" != yes ]; then
        say "not starting $UNIT: $CONF is not complete yet: ${reason#guestagent: }"
        say "set guest_id (and [amqp] url) in $CONF, check with 'guestagent check-config --config $CONF', then: systemctl start $UNIT"
        return 0
    fi
    if [ -x /usr/sbin/policy-rc.d ]; then
        prc=0
        /usr/sbin/policy-rc.d "$UNIT" "$action" >/dev/null 2>&1 || prc=$?
        if [ "$prc" = 101 ]; then
            say "policy-rc.d forbids '$action' of $UNIT; not done"
            return 0
        fi
    fi
    # --no-block: READY=1 waits for the broker; never hang the package manager.
    if systemctl --system --no-block "$action" "$UNIT"; then
        say "$action of $UNIT requested; see: systemctl status $UNIT"
    else
        say "could not $action $UNIT; see: journalctl -u $UNIT"
    fi
    return 0
}

case "${1:-}" in
    configure)
        fix_permissions
        run_bootstrap
        if [ "${2:-install}" = upgrade ]; then
            start_if_configured restart
        else
            start_if_configured start
        fi
        ;;
    *)
        echo "usage: $0 configure install|upgrade" >&2
        exit 64
        ;;
esac
exit 0
