# guestagent %pre: the system user and group, before the files (the config
# file is owned by group guestagent).
getent group guestagent >/dev/null || groupadd -r guestagent
getent passwd guestagent >/dev/null || \
    useradd -r -g guestagent -d /var/lib/guestagent -M \
        -s /usr/sbin/nologin -c "guestagent daemon" guestagent
exit 0
