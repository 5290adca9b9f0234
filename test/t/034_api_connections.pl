# The endpoint holds more connections than a soft limit of 1024 open files
# allows, and no more than sqsn.api_max_connections.
#
# The server is started with a soft limit of 1024 open files (as systemd
# starts services; the hard limit stays) and one API worker: 1,100
# connections each make a request and stay open, all are answered, none
# is closed, and the worker's soft limit is its hard limit. Then, with
# sqsn.api_max_connections = 50, the 51st connection waits unanswered
# (libmicrohttpd stops accepting at its limit) while the first 50 are held. Last, with sqsn.api_idle_timeout = 3s, a
# connection sending its headers a byte every 0.3 s (slowloris) is closed
# after about 3 s, though it is never silent that long, and a request sent
# at a normal pace on a kept-alive connection is still answered.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $python = '/usr/bin/python3';
plan skip_all => 'no /usr/bin/python3' unless -x $python;
my $hard = `sh -c 'ulimit -Hn'`;
chomp $hard;
plan skip_all => "the hard limit on open files ($hard) is too low for 1,100 connections"
  unless $hard eq 'unlimited' || $hard > 1300;

my $api_port = PostgreSQL::Test::Cluster::get_free_port();
my $node = PostgreSQL::Test::Cluster->new('sqsn_api_connections');
$node->init;
# one worker, which every connection reaches
$node->append_conf('postgresql.conf', qq{
sqsn.api_workers = 1
shared_preload_libraries = 'sqsn'
sqsn.api_auth = 'none'
sqsn.api_listen_addresses = '127.0.0.1'
sqsn.api_port = $api_port
});

# pg_ctl start as PostgreSQL::Test::Cluster does, under ulimit -Sn 1024
sub start_low_limit
{
	my $name = $node->name;
	my $ret = system('sh', '-c',
		'ulimit -Sn 1024 && exec "$@"', 'sh',
		'pg_ctl', '-w', '-D', $node->data_dir, '-l', $node->logfile,
		'-o', "--cluster-name=$name", 'start');
	$node->_update_pid($ret == 0 ? 1 : -1);
	die 'pg_ctl start failed' if $ret != 0;
}

# N connections, each a keep-alive GET /metrics answered in full, held
# open 2 s more; then one request on a new connection. Prints
# "answered=A closed=C late=L" (closed: by the server, before or after
# answering; late: the new connection's status, or unanswered within 5 s).
my $client = "${PostgreSQL::Test::Utils::tmp_check}/api_connections.py";
open my $fh, '>', $client or die "cannot write $client: $!";
print $fh <<'PY';
import asyncio, resource, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
mode = sys.argv[3] if len(sys.argv) > 3 else "many"
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if soft < n + 64:
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else n + 64, hard))
answered = closed = 0
async def request(reader, writer, wait=30):
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
    length = 0
    for line in head.decode("latin-1").split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == "content-length":
            length = int(v)
    await asyncio.wait_for(reader.readexactly(length), 30)
    return head.split(b" ")[1].decode()
async def one(gate):
    global answered, closed
    async with gate:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await request(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            closed += 1
            return None
    answered += 1
    return reader, writer
async def main():
    gate = asyncio.Semaphore(64)
    conns = [c for c in await asyncio.gather(*(one(gate) for _ in range(n))) if c]
    await asyncio.sleep(2)
    global closed
    for reader, writer in conns:
        try:
            if await asyncio.wait_for(reader.read(1), 0.001) == b"":
                closed += 1
        except asyncio.TimeoutError:
            pass
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        late = await request(reader, writer, 5)
    except asyncio.TimeoutError:
        late = "unanswered"
    except (OSError, asyncio.IncompleteReadError):
        late = "closed"
    print(f"answered={answered} closed={closed} late={late}")
async def slow():
    # one byte of headers every 0.3 s: the seconds until the server closes
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = asyncio.get_running_loop().time()
    data = b"GET /metrics HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"s" * 200
    for i in range(len(data)):
        try:
            writer.write(data[i:i + 1])
            await writer.drain()
            if await asyncio.wait_for(reader.read(1), 0.3) == b"":
                break
        except asyncio.TimeoutError:
            continue
        except OSError:
            break
    print(f"closed_after={asyncio.get_running_loop().time() - start:.0f}")
async def paced():
    # two requests, 2 s apart, on one connection
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    first = await request(reader, writer)
    await asyncio.sleep(2)
    second = await request(reader, writer)
    print(f"first={first} second={second}")
asyncio.run({"many": main, "slow": slow, "paced": paced}[mode]())
PY
close $fh;

start_low_limit();
my $pid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'sqsn api'");
my $pm_limits = slurp_file($node->data_dir . '/postmaster.pid');
my ($pm_pid) = $pm_limits =~ /^(\d+)/;
like(slurp_file("/proc/$pm_pid/limits"), qr/^Max open files\s+1024\s/m,
	'the server started with a soft limit of 1024 open files');
my ($soft, $whard) =
  slurp_file("/proc/$pid/limits") =~ /^Max open files\s+(\S+)\s+(\S+)/m;
is($soft, $whard, "the API worker raised its soft limit to the hard one ($whard)");

my $out = `$python $client $api_port 1100 2>&1`;
chomp $out;
is($out, 'answered=1100 closed=0 late=200',
	'one worker answers 1,100 connections held open at once');
unlike(slurp_file($node->logfile), qr/Too many open files/,
	'no accept failed for want of descriptors');

$node->stop;
$node->append_conf('postgresql.conf', "sqsn.api_max_connections = 50\n");
start_low_limit();
$out = `$python $client $api_port 50 2>&1`;
chomp $out;
is($out, 'answered=50 closed=0 late=unanswered',
	'with sqsn.api_max_connections = 50, the 51st connection waits');

$node->stop;
$node->append_conf('postgresql.conf', "sqsn.api_idle_timeout = '3s'\n");
start_low_limit();
$out = `$python $client $api_port 1 slow 2>&1`;
chomp $out;
like($out, qr/^closed_after=[3-6]$/,
	'a connection sending its headers a byte at a time is closed after sqsn.api_idle_timeout'
);
$out = `$python $client $api_port 1 paced 2>&1`;
chomp $out;
is($out, 'first=200 second=200',
	'a kept-alive connection that sends whole requests is served');
$node->stop;

done_testing();
