/*-------------------------------------------------------------------------
 *
 * ssrf.c
 *	  Where push delivery may connect: the sqsn.http_allowed_hosts check.
 *
 * The setting is a comma-separated list of entries, each an IP address or
 * CIDR range (127.0.0.1, 10.0.0.0/8, ::1, fd00::/8) or a host name pattern
 * (hooks.example.com, *.example.com). A connection to an address is
 * allowed when
 *
 *	  - the address lies in a listed address range, or
 *	  - the address is public (not loopback, private, link-local, carrier
 *		NAT, multicast, reserved or unspecified) and either the list has no
 *		host name patterns or the URL's host matches one of them.
 *
 * So the empty default allows every public address and nothing internal;
 * listing host names narrows delivery to those hosts; loopback and private
 * destinations need their address range listed -- a host name pattern never
 * unlocks an internal address. The delivery worker calls this from libcurl's
 * open-socket callback, with the address libcurl is about to connect to:
 * the check is on the resolved address actually used, so a name that
 * resolves to a public address when the subscription is made and to an
 * internal one later (DNS rebinding) is refused at connect time.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include "push/push.h"

/* One address range: 16 bytes (IPv4 as IPv4-mapped IPv6) and a prefix. */
typedef struct AddrRange
{
	uint8 addr[16];
	int   bits;
} AddrRange;

static void
to_v6(const struct sockaddr *sa, uint8 out[16])
{
	if (sa->sa_family == AF_INET)
	{
		const struct sockaddr_in *in = (const struct sockaddr_in *) sa;

		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
	}
	else
		memcpy(out, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
}

static bool
in_range(const uint8 addr[16], const uint8 net[16], int bits)
{
	int full = bits / 8;
	int rest = bits % 8;

	if (memcmp(addr, net, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((addr[full] ^ net[full]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* Parses "a.b.c.d", "a.b.c.d/n", "x::y" or "x::y/n"; false if not one. */
static bool
parse_range(const char *entry, AddrRange *range)
{
	char           buf[128];
	char          *slash;
	int            maxbits;
	struct in_addr v4;

	strlcpy(buf, entry, sizeof(buf));
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, &v4) == 1)
	{
		memset(range->addr, 0, 10);
		range->addr[10] = range->addr[11] = 0xff;
		memcpy(range->addr + 12, &v4, 4);
		maxbits = 32;
	}
	else if (inet_pton(AF_INET6, buf, range->addr) == 1)
		maxbits = 128;
	else
		return false;
	range->bits = maxbits;
	if (slash)
	{
		char *end;
		long  n = strtol(slash + 1, &end, 10);

		if (slash[1] == '\0' || *end != '\0' || n < 0 || n > maxbits)
			return false;
		range->bits = (int) n;
	}
	if (maxbits == 32)
		range->bits += 96;
	return true;
}

/* Internal ranges: never reached unless listed. */
static const char *const internal_ranges[] = {
	"0.0.0.0/8",      "10.0.0.0/8",    "100.64.0.0/10", "127.0.0.0/8",
	"169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",  "192.168.0.0/16",
	"198.18.0.0/15",  "224.0.0.0/4",   "240.0.0.0/4",   "::/128",
	"::1/128",        "fc00::/7",      "fe80::/10",     "ff00::/8",
	"64:ff9b::/96",   "2001:db8::/32"};

static bool
is_internal(const uint8 addr[16])
{
	for (int i = 0; i < lengthof(internal_ranges); i++)
	{
		AddrRange r;

		if (parse_range(internal_ranges[i], &r) &&
			in_range(addr, r.addr, r.bits))
			return true;
	}
	return false;
}

/* Splits the list into trimmed, non-empty entries. */
static List *
split_list(const char *list)
{
	List *entries = NIL;
	char *copy = pstrdup(list ? list : "");
	char *save = NULL;

	for (char *tok = strtok_r(copy, ",", &save); tok;
		 tok = strtok_r(NULL, ",", &save))
	{
		char *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok)
			entries = lappend(entries, tok);
	}
	return entries;
}

static bool
host_matches(const char *pattern, const char *host)
{
	size_t plen = strlen(pattern);
	size_t hlen = strlen(host);

	if (strcmp(pattern, "*") == 0)
		return true;
	if (pattern[0] == '*' && pattern[1] == '.')
	{
		/* *.example.com: any name ending in .example.com */
		return hlen > plen - 1 &&
			   pg_strcasecmp(host + hlen - (plen - 1), pattern + 1) == 0;
	}
	return pg_strcasecmp(pattern, host) == 0;
}

/*
 * Whether host matches one of the host name patterns of the list (address
 * entries are skipped).
 */
bool
sqsn_host_pattern_matches(const char *list, const char *host)
{
	ListCell *lc;
	AddrRange r;

	foreach (lc, split_list(list))
	{
		const char *entry = lfirst(lc);

		if (parse_range(entry, &r))
		{
			/* an address entry matches the same literal address as host */
			AddrRange h;

			if (strchr(host, '/') == NULL && parse_range(host, &h) &&
				in_range(h.addr, r.addr, r.bits))
				return true;
			continue;
		}
		if (host_matches(entry, host))
			return true;
	}
	return false;
}

/*
 * Whether a connection to addr (for the URL host `host') is allowed by
 * list; when not, says why in why.
 */
bool
sqsn_address_allowed(const char *list, const char *host,
					 const struct sockaddr *addr, char *why, size_t whylen)
{
	uint8     a[16];
	bool      have_patterns = false;
	bool      pattern_match = false;
	char      text[INET6_ADDRSTRLEN];
	ListCell *lc;

	if (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)
	{
		snprintf(why, whylen, "only IPv4 and IPv6 destinations are allowed");
		return false;
	}
	to_v6(addr, a);
	foreach (lc, split_list(list))
	{
		const char *entry = lfirst(lc);
		AddrRange   r;

		if (parse_range(entry, &r))
		{
			if (in_range(a, r.addr, r.bits))
				return true;
		}
		else
		{
			have_patterns = true;
			if (host != NULL && host_matches(entry, host))
				pattern_match = true;
		}
	}

	if (addr->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *) addr)->sin_addr,
				  text, sizeof(text));
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) addr)->sin6_addr,
				  text, sizeof(text));

	if (is_internal(a))
	{
		snprintf(why, whylen,
				 "address %s is internal (loopback, private, link-local or "
				 "reserved) and not listed in sqsn.http_allowed_hosts",
				 text);
		return false;
	}
	if (have_patterns && !pattern_match)
	{
		snprintf(why, whylen,
				 "host %s (%s) is not listed in sqsn.http_allowed_hosts",
				 host ? host : "?", text);
		return false;
	}
	return true;
}
