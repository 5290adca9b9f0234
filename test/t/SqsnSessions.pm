# Helpers for the stress TAP tests: SQL statements run at once in sessions
# of their own (psql in the background), then waited for.
package SqsnSessions;

use strict;
use warnings;

use IPC::Run;
use Test::More;

# start_session(node, name, sql, timeout_s): runs sql in a new session
# named name (its application_name), with statement_timeout timeout_s;
# returns a handle for finish_sessions.
sub start_session
{
	my ($node, $name, $sql, $timeout_s) = @_;
	my ($out, $err) = ('', '');
	my $connstr = $node->connstr('postgres')
	  . " application_name=$name options='-c statement_timeout=${timeout_s}s'";
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $connstr, '-c', $sql ],
		'<', \undef, '>', \$out, '2>', \$err,
		IPC::Run::timeout($timeout_s + 30));
	return { name => $name, h => $h, err => \$err };
}

# finish_sessions(sessions...): waits for every session; returns how many
# failed (each one's error is shown, and it is killed if still running).
sub finish_sessions
{
	my $failed = 0;
	for my $s (@_)
	{
		eval { $s->{h}->finish; };
		if ($@ || ($s->{h}->result // 1) != 0)
		{
			$failed++;
			diag("$s->{name} failed: $@ " . ${ $s->{err} });
			eval { $s->{h}->kill_kill; };
		}
	}
	return $failed;
}

1;
