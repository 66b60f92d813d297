# guestagent %postun ($1: 0 erase, 1+ upgrade). RPM has no purge, so erase
# does what the .deb's purge does: remove /var/lib/guestagent (the action
# journal), the MariaDB account guestagent@localhost made by bootstrap (it
# holds ALL PRIVILEGES and is reached by the OS user name alone), the user
# and group, and /etc/guestagent once empty (rpm keeps an edited config as
# guestagent.toml.rpmsave).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ]; then
    dropped=no
    if [ -S /run/mysqld/mysqld.sock ]; then
        for client in mariadb mysql; do
            if command -v "$client" >/dev/null 2>&1; then
                "$client" --protocol=socket --socket=/run/mysqld/mysqld.sock -uroot \
                    -e "DROP USER IF EXISTS 'guestagent'@'localhost'" >/dev/null 2>&1 && dropped=yes
                break
            fi
        done
    fi
    if [ "$dropped" = no ]; then
        echo "guestagent: could not reach mysqld; if it has the account, drop it as root with:" >&2
        echo "  mariadb -e \"DROP USER IF EXISTS 'guestagent'@'localhost'\"" >&2
    fi
    rm -rf /var/lib/guestagent
    rmdir /etc/guestagent 2>/dev/null || :
    if getent passwd guestagent >/dev/null; then
        userdel guestagent >/dev/null 2>&1 || echo "guestagent: could not remove the user guestagent" >&2
    fi
    if getent group guestagent >/dev/null; then
        groupdel guestagent >/dev/null 2>&1 || echo "guestagent: could not remove the group guestagent" >&2
    fi
fi
exit 0
