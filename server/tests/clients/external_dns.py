"""What Kubernetes external-dns's rfc2136 provider writes for a Service: the A record and its
TXT ownership record, in one UPDATE (then, with `delete`, both removed in one UPDATE), signed
with hmac-sha256, over UDP like the provider (which uses miekg/dns).

usage: external_dns.py SERVER PORT ZONE KEY_NAME SECRET_B64 create|delete HOST ADDRESS
Prints the response code.
"""
import sys

import dns.query
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import dns.update

server, port, zone, key_name, secret, action, host, address = sys.argv[1:9]
keyring = dns.tsigkeyring.from_text({key_name: secret})
owner = "heritage=external-dns,external-dns/owner=default,external-dns/resource=service/default/" + host.split(".")[0]
update = dns.update.Update(zone, keyring=keyring, keyalgorithm=dns.tsig.HMAC_SHA256)
if action == "create":
    update.add(host, 300, "A", address)
    update.add("a-" + host, 300, "TXT", '"' + owner + '"')
else:
    update.delete(host, "A", address)
    update.delete("a-" + host, "TXT", '"' + owner + '"')
response = dns.query.udp(update, server, timeout=5, port=int(port))
print(dns.rcode.to_text(response.rcode()))
