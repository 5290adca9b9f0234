# sqsn — PGXS build.
#
#   make demo    set everything up (packages, build, private cluster) and run
#                examples/quickstart.sql
#   make test    same set-up, then every test suite; ends with "N passed, N failed"
#   make stop    stop the private cluster
#   make valgrind  the regress suite against a cluster run under valgrind

EXTENSION  = sqsn
EXTVERSION = 0.4

MODULE_big = sqsn
OBJS       = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c src/*/*.c)))
PG_CPPFLAGS = -I$(srcdir)/src
PGFILEDESC = "sqsn - SQS-style queues and SNS-style topics"
SHLIB_LINK = -lcurl -lcrypto -lmicrohttpd

# sql/sqsn.sql is the install script of the current version; the install
# scripts of shipped versions (sql/sqsn--0.1.sql, sql/sqsn--0.2.sql, sql/sqsn--0.3.sql) stay as they shipped, and
# sql/sqsn--<from>--<to>.sql update an installation from one to the next.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql
DATA       = $(filter-out $(DATA_built) sql/$(EXTENSION).sql,$(wildcard sql/$(EXTENSION)--*.sql))
EXTRA_CLEAN = $(DATA_built)

# Tests: pg_regress inputs are sql/<name>.sql with expected/<name>.out (PGXS
# layout), isolation specs in test/isolation/, pgTAP in test/pgtap/, TAP in
# test/t/. They need the private cluster that scripts/setup.sh starts (the
# library is preloaded), so scripts/test.sh finds and runs them all.

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
else ifeq ($(filter demo test stop fuzz valgrind print-shlib-link,$(MAKECMDGOALS)),)
$(error pg_config not found: install postgresql-server-dev-15, or run "make demo", which installs it)
endif

sql/$(EXTENSION)--$(EXTVERSION).sql: sql/$(EXTENSION).sql
	cp $< $@

.PHONY: demo test stop format fuzz valgrind print-shlib-link

demo:
	@bash scripts/demo.sh

test:
	@bash scripts/test.sh

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
	clang-format -i src/*.c src/*.h src/*/*.c src/*/*.h
