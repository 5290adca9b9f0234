# sqsn — PGXS build.
#
#   make demo      set everything up (packages, build, private cluster) and run
#                  examples/quickstart.sql; one line per step, the build's
#                  output goes to .pgrun/build.log
#   make test      same set-up, then every test suite; ends with "N passed, N failed"
#   make test SUITE=regress TEST=receive
#                  one suite, or some tests of it. SUITE and TEST take names
#                  separated by spaces or commas; TEST alone looks in every
#                  suite. Suites: layers regress isolation pgtap tap api apps
#                  bench; scripts/test.sh --list names every test.
#   make stop      stop the private cluster
#   make valgrind  the regress suite against a cluster run under valgrind
#   make fuzz      the libFuzzer harnesses of test/fuzz/
#   make format    clang-format over every .c and .h file of src/
#
#   make installcheck        PGXS's tests against a running server: the
#                            regress suite, the isolation specs, the TAP tests
#   make prove_installcheck  the TAP tests only (PROVE_TESTS=test/t/001_crash_restart.pl
#                            for one; PROVE_FLAGS=--verbose)
# installcheck uses the server that PGHOST/PGPORT/PGUSER name (for the private
# cluster: eval "$(scripts/cluster.sh env)"). It must preload the library
# (shared_preload_libraries = 'sqsn,pg_cron') with the settings
# scripts/setup.sh writes to its sqsn.conf (the master key of encrypted
# queues, the push signing key), and have sqsn installed (make install).
# The TAP tests start clusters of their own with that installation.

EXTENSION  = sqsn
EXTVERSION = 0.5

# Sources: src/sqsn.c and one folder per subsystem (src/<subsystem>/*.c),
# whose headers are included as "<subsystem>/<header>.h".
MODULE_big  = sqsn
OBJS        = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
SRC_HEADERS = $(sort $(wildcard src/*.h src/*/*.h))
PG_CPPFLAGS = -I$(srcdir:/=)/src
PGFILEDESC  = "sqsn - SQS-style queues and SNS-style topics"
SHLIB_LINK  = -lcurl -lcrypto -lmicrohttpd

# sql/sqsn.sql is the install script of the current version; the install
# scripts of shipped versions (sql/sqsn--0.1.sql ... sql/sqsn--0.4.sql) stay as they shipped, and
# sql/sqsn--<from>--<to>.sql update an installation from one to the next.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built) sql/$(EXTENSION).sql,$(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = $(DATA_built)

# Tests (PGXS layout): pg_regress runs sql/<name>.sql against expected/<name>.out
# (every sql/*.sql but the install scripts), pg_isolation_regress
# test/isolation/specs/<name>.spec against test/isolation/expected/, prove
# test/t/*.pl. pgTAP (test/pgtap/), the endpoint's client tests (test/api/)
# and the applications on it (test/apps/) run only under make test.
REGRESS        = $(filter-out $(EXTENSION) $(EXTENSION)--%,$(sort $(basename $(notdir $(wildcard sql/*.sql)))))
REGRESS_OPTS   = --load-extension=$(EXTENSION)
ISOLATION      = $(sort $(basename $(notdir $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=$(EXTENSION)
TAP_TESTS      = 1
PROVE_TESTS    = $(sort $(wildcard test/t/*.pl))

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else ifeq ($(filter demo test stop fuzz valgrind format print-shlib-link,$(MAKECMDGOALS)),)
$(error pg_config not found: install postgresql-server-dev-15, or run "make demo", which installs it)
endif

# The dashboard's page (api/dashboard.c): plain files installed with the
# extension into <sharedir>/extension/sqsn_dashboard/, served as they are.
DASHBOARD_FILES = $(sort $(wildcard src/api/dashboard/*.html src/api/dashboard/*.css src/api/dashboard/*.js))
DASHBOARD_DIR   = $(datadir)/extension/sqsn_dashboard

install: install-dashboard
install-dashboard:
	$(MKDIR_P) '$(DESTDIR)$(DASHBOARD_DIR)'
	$(INSTALL_DATA) $(DASHBOARD_FILES) '$(DESTDIR)$(DASHBOARD_DIR)/'

uninstall: uninstall-dashboard
uninstall-dashboard:
	rm -rf '$(DESTDIR)$(DASHBOARD_DIR)'

# PGXS does not track headers: every object depends on every header.
$(OBJS) $(OBJS:.o=.bc): $(SRC_HEADERS)

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

# The TAP tests' helper modules (test/t/*.pm, test/*.pm); set after PGXS,
# which defines PG_PROVE_FLAGS.
PG_PROVE_FLAGS += -I test/t -I test

# initdb refuses to run as root and every TAP test starts its own cluster:
# as root, installcheck skips them (saying so) and prove_installcheck fails.
# make test runs them as the postgres user.
AS_ROOT := $(filter 0,$(shell id -u))
ifneq ($(AS_ROOT),)
prove_installcheck = @echo "TAP tests skipped: their clusters cannot run as root (run them as another user, or: make test SUITE=tap)"
endif

prove_installcheck:
ifneq ($(AS_ROOT),)
	@echo "make prove_installcheck: the TAP tests' clusters cannot run as root; run it as another user, or: make test SUITE=tap" >&2; exit 1
else
	$(prove_installcheck)
endif

.PHONY: demo test stop format fuzz valgrind print-shlib-link prove_installcheck \
	install-dashboard uninstall-dashboard

demo:
	@bash scripts/demo.sh

test:
	@bash scripts/test.sh --suite "$(SUITE)" --test "$(TEST)"

stop:
	@bash scripts/cluster.sh stop

# libFuzzer harnesses (test/fuzz/), FUZZ_SECONDS per target (default 60)
fuzz:
	@bash scripts/fuzz.sh

# the regress suite (and the workers) under valgrind's memcheck; slow
valgrind:
	@bash scripts/valgrind.sh

print-shlib-link:
	@echo $(SHLIB_LINK)

format:
	find src -name '*.[ch]' -exec clang-format -i {} +
