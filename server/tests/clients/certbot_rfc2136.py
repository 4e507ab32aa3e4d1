"""The exact calls certbot's dns-rfc2136 plugin makes for an ACME DNS-01 challenge: find the
zone by SOA queries, add the _acme-challenge TXT, delete it. Uses the plugin's own client.

usage: certbot_rfc2136.py SERVER PORT KEY_NAME SECRET_B64 add|del NAME CONTENT
Exits 0 on success; prints the plugin's error otherwise.
"""
import sys

import dns.tsig
from certbot import errors
from certbot_dns_rfc2136._internal.dns_rfc2136 import _RFC2136Client

server, port, key_name, secret, action, name, content = sys.argv[1:8]
client = _RFC2136Client(server, int(port), key_name, secret, dns.tsig.HMAC_SHA512, False, 5)
try:
    if action == "add":
        client.add_txt_record(name, content, 60)
    else:
        client.del_txt_record(name, content)
except errors.PluginError as e:
    print(f"PluginError: {e}")
    sys.exit(1)
