"""dnsbl_zone: the records of a DNS list that lists a client."""
import ipaddress


def listed(addr, zone, answer="127.0.0.2"):
    """The A record that lists addr in zone (reversed, or nibbles)."""
    name = ipaddress.ip_address(addr).reverse_pointer
    name = name.rsplit(".in-addr.arpa", 1)[0].rsplit(".ip6.arpa", 1)[0]
    return "%s.%s. 300 IN A %s" % (name, zone, answer)
