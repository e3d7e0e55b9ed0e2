# relayd: a privilege-separated SMTP relay appliance.
#
#   make              build everything
#   make check        build and run every test (SANITIZE=1: ASan + UBSan)
#   make run          relayd in the foreground with etc/relayd.yaml
#   make users        create the children's system users (root)
#   make install      DESTDIR and PREFIX honoured
#   make deb          the Debian package, in .build/deb/
#   make fuzz         build the libFuzzer targets (clang)
#   make bench        benchmarks against Postfix (figures, not tests)
#   make clean

.DEFAULT_GOAL := all

# The release, for relayd -V and the Debian package (debian/changelog).
VERSION		:= $(shell cat VERSION)

PREFIX		?= /usr/local
SBINDIR		?= $(PREFIX)/sbin
LIBEXECDIR	?= $(PREFIX)/libexec/relayd
MANDIR		?= $(PREFIX)/share/man
SYSCONFDIR	?= /etc/relayd
UNITDIR		?= /lib/systemd/system
SYSUSERSDIR	?= /usr/lib/sysusers.d
TMPFILESDIR	?= /usr/lib/tmpfiles.d
DESTDIR		?=

PROCS		:= relayd smtpd queued deliverd dnsd policyd keyd metricsd \
		   relayctl
CHILDREN	:= smtpd queued deliverd dnsd policyd keyd metricsd
PKGS		:= libevent libevent_openssl libevent_pthreads libcares \
		   libbsd-overlay libseccomp libcap lmdb openssl libidn2
# Only the parent and relayctl parse YAML (config/).
YAML_PKG	:= yaml-0.1
# Only policyd speaks to Redis (hiredis's reader and formatter).
HIREDIS_PKG	:= hiredis

ifeq ($(SANITIZE),1)
CC		:= clang
# The sanitizers' runtimes make calls no child's filter allows: log them.
SECCOMP_LOG	:= 1
SANFLAGS	:= -fsanitize=address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=undefined
OPTFLAGS	:= -O1 -g
HARDEN		:= -fstack-protector-strong
else
SANFLAGS	:=
OPTFLAGS	:= -O2 -g
HARDEN		:= -D_FORTIFY_SOURCE=2 -fstack-protector-strong
endif

WARN		:= -Wall -Wextra -Werror -Wshadow -Wpointer-arith \
		   -Wmissing-prototypes -Wstrict-prototypes -Wformat=2
CFLAGS		?=
CPPFLAGS	+= -D_GNU_SOURCE -Icommon -DLIBEXECDIR='"$(LIBEXECDIR)"' \
		   $(if $(filter 1,$(SECCOMP_LOG)),-DSANDBOX_LOG) \
		   -DSYSCONFDIR='"$(SYSCONFDIR)"' \
		   -DRELAYD_VERSION='"$(VERSION)"' $(EXTRA_CPPFLAGS)
ALL_CFLAGS	 = -std=gnu11 $(OPTFLAGS) $(WARN) $(HARDEN) -fPIE $(SANFLAGS) \
		   $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS	 = -pie -Wl,-z,relro,-z,now -Wl,--as-needed $(SANFLAGS) $(LDFLAGS)
LIBS		 = $(PKG_LIBS) -lpthread
Q		:= $(if $(V),,@)

# pkg-config runs once the Debian packages are there (scripts/deps).
NODEPS_GOALS	:= clean users
ifneq ($(filter-out $(NODEPS_GOALS),$(or $(MAKECMDGOALS),all)),)
-include .build/pkg.mk
endif

.build/pkg.mk: scripts/deps
	@mkdir -p .build
	@scripts/deps build
	@printf 'PKG_CFLAGS := %s\nPKG_LIBS := %s\nYAML_LIBS := %s\nHIREDIS_LIBS := %s\n' \
	    "$$(pkg-config --cflags $(PKGS) $(YAML_PKG))" \
	    "$$(pkg-config --libs $(PKGS))" \
	    "$$(pkg-config --libs $(YAML_PKG))" \
	    "$$(pkg-config --libs $(HIREDIS_PKG))" > $@

# Rebuild everything when the flags change (SANITIZE=1 and back).
FLAGS_ID	 = $(CC) $(ALL_CFLAGS) $(CPPFLAGS) $(ALL_LDFLAGS)
.build/flags: FORCE
	@mkdir -p .build
	@echo '$(FLAGS_ID)' | cmp -s - $@ || echo '$(FLAGS_ID)' > $@
FORCE:

COMMON_SRCS	:= $(sort $(wildcard common/*.c))
COMMON_OBJS	:= $(COMMON_SRCS:.c=.o)
LIBCOMMON	:= common/libcommon.a
# The YAML loader: linked into relayd and relayctl, never into a child.
CONFIG_SRCS	:= $(sort $(wildcard config/*.c))
CONFIG_OBJS	:= $(CONFIG_SRCS:.c=.o)
LIBCONFIG	:= config/libconfig.a
YAML_PROCS	:= relayd relayctl
proc_libs	 = $(if $(filter $(1),$(YAML_PROCS)),$(2)config/libconfig.a) \
		   $(2)common/libcommon.a
proc_ldlibs	 = $(LIBS) $(if $(filter $(1),$(YAML_PROCS)),$(YAML_LIBS)) \
		   $(if $(filter $(1),policyd),$(HIREDIS_LIBS))
config/%.o relayd/%.o relayctl/%.o: CPPFLAGS += -Iconfig

define proc_rules
$(1)_SRCS := $$(sort $$(wildcard $(1)/*.c))
$(1)_OBJS := $$($(1)_SRCS:.c=.o)
$(1)/$(1): $$($(1)_OBJS) $(call proc_libs,$(1))
	@echo "LD $$@"
	$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$($(1)_OBJS) $(call proc_libs,$(1)) \
	    $$(call proc_ldlibs,$(1))
endef
$(foreach p,$(PROCS),$(eval $(call proc_rules,$(p))))

BINS		:= $(foreach p,$(PROCS),$(p)/$(p))
ALL_OBJS	:= $(COMMON_OBJS) $(CONFIG_OBJS) $(foreach p,$(PROCS),$($(p)_OBJS))

all: $(BINS) units tools
bins: $(BINS)

%.o: %.c .build/flags .build/pkg.mk
	@echo "CC $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -MMD -MP -c -o $@ $<

$(LIBCOMMON): $(COMMON_OBJS)
	rm -f $@
	ar rcs $@ $^

$(LIBCONFIG): $(CONFIG_OBJS)
	rm -f $@
	ar rcs $@ $^

# A second build with fault injection (RELAYD_FAULTS: named crash points
# and forbidden system calls, see common/faults.h), for the tests that
# break relayd on purpose.  It lives in .build/debug, laid out like the
# tree, so its relayd finds its children beside it.
DBG		:= .build/debug
DBG_BINS	:= $(foreach p,$(PROCS),$(DBG)/$(p)/$(p))
DBG_LIBCOMMON	:= $(DBG)/common/libcommon.a
DBG_LIBCONFIG	:= $(DBG)/config/libconfig.a
$(DBG)/config/%.o $(DBG)/relayd/%.o $(DBG)/relayctl/%.o: CPPFLAGS += -Iconfig
$(DBG)/%.o: %.c .build/flags .build/pkg.mk
	@mkdir -p $(dir $@)
	@echo "CC $< (debug)"
	$(Q)$(CC) $(ALL_CFLAGS) $(CPPFLAGS) -DRELAYD_FAULTS -MMD -MP -c -o $@ $<
$(DBG_LIBCOMMON): $(addprefix $(DBG)/,$(COMMON_OBJS))
	rm -f $@
	ar rcs $@ $^
$(DBG_LIBCONFIG): $(addprefix $(DBG)/,$(CONFIG_OBJS))
	rm -f $@
	ar rcs $@ $^
define dbg_rules
$(DBG)/$(1)/$(1): $$(addprefix $(DBG)/,$$($(1)_OBJS)) \
    $(call proc_libs,$(1),$(DBG)/)
	@echo "LD $$@ (debug)"
	$(Q)$$(CC) $$(ALL_LDFLAGS) -o $$@ $$(addprefix $(DBG)/,$$($(1)_OBJS)) \
	    $(call proc_libs,$(1),$(DBG)/) $$(call proc_ldlibs,$(1))
endef
$(foreach p,$(PROCS),$(eval $(call dbg_rules,$(p))))
debug: $(DBG_BINS)

# Unit tests: regress/unit/NAME.c becomes regress/unit/NAME.t, and may use
# the objects of one process (everything but its main file).  They come
# from an archive, so a test links only the objects it calls: linked
# whole, they would need the symbols of every process's main file.
UNIT_SRCS	:= $(sort $(wildcard regress/unit/*.c))
UNIT_TESTS	:= $(filter-out regress/unit/tap.t,$(UNIT_SRCS:.c=.t))
PROC_LIB_OBJS	 = $(filter-out $(foreach p,$(PROCS),$(p)/$(p).o),\
		   $(foreach p,$(PROCS),$($(p)_OBJS)))
PROC_LIB	:= regress/unit/libprocs.a
units: $(UNIT_TESTS)
$(PROC_LIB): $(PROC_LIB_OBJS)
	rm -f $@
	ar rcs $@ $^
regress/unit/%.t: regress/unit/%.o regress/unit/tap.o $(PROC_LIB) $(LIBCONFIG) \
    $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $< regress/unit/tap.o \
	    $(PROC_LIB) $(LIBCONFIG) $(LIBCOMMON) $(LIBS) $(YAML_LIBS) \
	    $(HIREDIS_LIBS)
regress/unit/%.o: CPPFLAGS += -I. -Iregress/unit -Iconfig
# Made by a pattern chain, they would be deleted as intermediate files
# after the first build and compiled again by the second.
.SECONDARY: $(UNIT_SRCS:.c=.o)
ALL_OBJS	+= $(UNIT_SRCS:.c=.o)

# Test tools: regress/tools/NAME.c becomes regress/tools/NAME, linked with
# common/ (mkqueue fills a queue the way queued would, without SMTP).
TOOL_SRCS	:= $(sort $(wildcard regress/tools/*.c))
TOOLS		:= $(TOOL_SRCS:.c=)
tools: $(TOOLS)
$(TOOLS): %: %.o $(LIBCOMMON)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBCOMMON) $(LIBS)
.SECONDARY: $(TOOL_SRCS:.c=.o)
ALL_OBJS	+= $(TOOL_SRCS:.c=.o)

users:
	@if [ "$$(id -u)" = 0 ]; then scripts/mkusers etc/relayd.sysusers; \
	else echo "make users: not root; skipped" >&2; fi

check: all debug
	@scripts/deps test
	@if [ "$$(id -u)" = 0 ]; then scripts/mkusers etc/relayd.sysusers; fi
	RELAYD_TOP=$(CURDIR) SANITIZE=$(SANITIZE) prove --exec '' -r \
	    $(if $(TESTS),$(TESTS),regress/)

run: all
	@if [ "$$(id -u)" = 0 ]; then scripts/mkusers etc/relayd.sysusers; fi
	@mkdir -p run
	./relayd/relayd -d -f etc/relayd.yaml

install: $(BINS)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) \
	    $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(SYSCONFDIR)/tenants.d $(DESTDIR)$(UNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR)
	install -m 0755 relayd/relayd relayctl/relayctl $(DESTDIR)$(SBINDIR)
	for c in $(CHILDREN); do \
	    install -m 0755 $$c/$$c $(DESTDIR)$(LIBEXECDIR)/$$c; done
	install -m 0644 man/relayd.8 man/relayctl.8 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/relayd.yaml.5 man/relayd-tenant.5 \
	    $(DESTDIR)$(MANDIR)/man5
	[ -e $(DESTDIR)$(SYSCONFDIR)/relayd.yaml ] || \
	    install -m 0644 etc/relayd.yaml.dist \
	    $(DESTDIR)$(SYSCONFDIR)/relayd.yaml
	install -m 0644 etc/tenant.yaml.sample \
	    $(DESTDIR)$(SYSCONFDIR)/tenants.d/example.yaml.sample
	sed 's|@SBINDIR@|$(SBINDIR)|g; s|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    etc/relayd.service > $(DESTDIR)$(UNITDIR)/relayd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/relayd.service
	install -m 0644 etc/relayd.sysusers $(DESTDIR)$(SYSUSERSDIR)/relayd.conf
	install -m 0644 etc/relayd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/relayd.conf
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    scripts/mkusers etc/relayd.sysusers; fi

# The Debian package (debian/), built by dpkg-buildpackage in a copy of
# the source under .build/deb/, which is where the .deb is left; lintian
# must have nothing to say beyond debian/relayd.lintian-overrides.
DEB_OUT		:= .build/deb
DEB_SRC		:= $(DEB_OUT)/relayd-$(VERSION)
deb:
	@scripts/deps deb
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	    { echo "make deb: debian/changelog is at $$v, VERSION at" \
	    "$(VERSION)" >&2; exit 1; }
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -co --exclude-standard -z | \
	    tar --null --ignore-failed-read -T - -cf -; \
	else tar --exclude=./.build --exclude=./.git --exclude=./run -cf - .; \
	fi | tar -C $(DEB_SRC) -xf -
	$(MAKE) -s -C $(DEB_SRC) clean
	cd $(DEB_SRC) && dpkg-buildpackage -b --no-sign
	lintian --fail-on error,warning $(DEB_OUT)/relayd_$(VERSION)_*.changes
	@echo "make deb: $$(ls $(DEB_OUT)/relayd_$(VERSION)_*.deb)"

# libFuzzer targets: regress/fuzz/NAME.c becomes regress/fuzz/NAME, linked
# with every common/*.c and the process sources FUZZ_EXTRA_NAME names.
# Those are compiled once, instrumented, under .build/fuzz/.
FUZZ_SRCS	:= $(sort $(wildcard regress/fuzz/*.c))
FUZZ_BINS	:= $(FUZZ_SRCS:.c=)
# libFuzzer's conventional macro; child.c then leaves LeakSanitizer on.
FUZZ_FLAGS	:= -std=gnu11 -O1 -g -fno-omit-frame-pointer $(WARN) \
		   -fsanitize=address,undefined -fno-sanitize-recover=undefined \
		   -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
FUZZ_EXTRA_smtp_command	:= smtpd/smtp_parse.c smtpd/smtp_reply.c
FUZZ_EXTRA_data		:= smtpd/smtp_data.c
FUZZ_EXTRA_mta_reply	:= deliverd/mta_reply.c
FUZZ_EXTRA_kidmsg	:= relayd/parent_kidmsg.c
FUZZ_EXTRA_http_request	:= metricsd/http_parse.c
FUZZ_EXTRA_mx_samples	:= metricsd/mxd_render.c
FUZZ_EXTRA_mta_sts	:= deliverd/mta_sts_parse.c
FUZZ_EXTRA_milter_reply	:= policyd/milter_reply.c policyd/policy_reply.c
FUZZ_EXTRA_spf_record	:= policyd/spf.c policyd/spf_parse.c \
			   policyd/spf_macro.c policyd/spf_header.c
FUZZ_EXTRA_recline	:= queued/queue_recline.c
FUZZ_EXTRA	:= $(sort $(foreach b,$(FUZZ_BINS),$(FUZZ_EXTRA_$(notdir $(b)))))
FUZZ_OBJ	 = $(patsubst %.c,.build/fuzz/%.o,$(1))
fuzz: .build/pkg.mk $(FUZZ_BINS)
.build/fuzz/%.o: %.c .build/pkg.mk
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(CPPFLAGS) -I. -Iconfig \
	    $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
regress/fuzz/%: regress/fuzz/%.c \
    $(call FUZZ_OBJ,$(COMMON_SRCS) $(CONFIG_SRCS) $(FUZZ_EXTRA)) \
    $(wildcard */*.h)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer $(CPPFLAGS) -I. -Iconfig \
	    $(PKG_CFLAGS) -o $@ $< \
	    $(call FUZZ_OBJ,$(COMMON_SRCS) $(CONFIG_SRCS) $(FUZZ_EXTRA_$*)) \
	    $(PKG_LIBS) $(YAML_LIBS) -lpthread
.SECONDARY: $(call FUZZ_OBJ,$(COMMON_SRCS) $(CONFIG_SRCS) $(FUZZ_EXTRA))
-include $(wildcard .build/fuzz/*/*.d)

# bench/spf_bench: SPF checks per second (bench/spf.py runs it).
BENCH_SPF_OBJS	:= bench/spf_bench.o policyd/spf.o policyd/spf_parse.o \
		   policyd/spf_macro.o policyd/spf_header.o dnsd/dns_resolve.o
bench/spf_bench.o: CPPFLAGS += -I.
bench/spf_bench: $(BENCH_SPF_OBJS) $(LIBCOMMON)
	@echo "LD $@"
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(BENCH_SPF_OBJS) $(LIBCOMMON) $(LIBS)
ALL_OBJS	+= bench/spf_bench.o

bench: all bench/spf_bench
	@scripts/deps bench
	bench/run

clean:
	rm -f $(BINS) $(LIBCOMMON) $(LIBCONFIG) $(PROC_LIB) $(ALL_OBJS) \
	    bench/spf_bench \
	    $(ALL_OBJS:.o=.d) \
	    $(UNIT_TESTS) $(TOOLS) $(FUZZ_BINS) regress/*/*.o regress/*/*.d \
	    $(foreach d,common config $(PROCS),$(d)/*.o $(d)/*.d)
	rm -rf .build

.PHONY: all bins check run users install deb clean fuzz bench units tools \
	debug FORCE

-include $(ALL_OBJS:.o=.d) $(addprefix $(DBG)/,$(ALL_OBJS:.o=.d))
