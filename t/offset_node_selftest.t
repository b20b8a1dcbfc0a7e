#!/usr/bin/perl

# The Offset test node (t/tools/offset_node.c) against the spec's
# Appendix A, without nginx: it must reproduce the client frames V15, V19
# and V28 byte for byte and the keys V23/V24 from V13, decode the relay's
# V16, V22 and V31, and decode its own hand-built multi-segment messages.
# The relay tests (t/offset_*.t) trust its encoding because of this.

###############################################################################

use warnings;
use strict;

use Test::More;

BEGIN { use FindBin; chdir($FindBin::Bin); }

use lib 'lib';
use Test::Nginx::Offset;

###############################################################################

select STDERR; $| = 1;
select STDOUT; $| = 1;

has_offset_node();

my $bin = offset_node();
my $out = `$bin selftest 2>&1`;
my $rc = $? >> 8;

my @lines = grep { /^(not )?ok - / } split /\n/, $out;

ok(@lines >= 20, 'selftest ran its checks') or diag($out);

foreach my $l (@lines) {
    my ($not, $name) = $l =~ /^(not )?ok - (.*)/;
    ok(!$not, $name);
}

is($rc, 0, 'selftest exit status 0') or diag($out);

like($out, qr/^# multiseg_packed_bytes=\d+$/m, 'multi-segment message size');

done_testing();
