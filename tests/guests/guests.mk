# Freestanding test guests: included by the top-level Makefile.
# Builds $(BUILD)/guests/NAME.elf for each NAME in GUEST_NAMES from NAME.c (plus any
# extra objects listed below) and the guest library. Uses its own compiler flags, never
# the monitor's CFLAGS (sanitizers and PIE make no sense in a guest).

BUILD ?= build

# Included makefiles must not change the including one's default goal.
GUEST_SAVED_GOAL := $(.DEFAULT_GOAL)

GUEST_DIR := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
GUEST_OUT := $(BUILD)/guests
GUEST_OBJ := $(GUEST_OUT)/obj

# The virtio guests also link virtio.o, a small polling virtio-mmio driver.
GUEST_VIRTIO_NAMES := vlist vblk vnet vrng vhostile
GUEST_NAMES := hello cmdline memcheck smp triple_fault unknown_port unmapped_write \
	hostile_ports hostile_hole hostile_pt spin counter $(GUEST_VIRTIO_NAMES) kbd_cad boot_timer

GUEST_CC ?= gcc
GUEST_CFLAGS := -ffreestanding -nostdlib -static -fno-pic -no-pie -mno-red-zone \
	-mgeneral-regs-only -fno-stack-protector -O2 -Wall -Wextra -Werror -Wshadow -Wvla \
	-std=gnu11 -fno-delete-null-pointer-checks -fcf-protection=none \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -MMD -MP
GUEST_LDFLAGS := -ffreestanding -nostdlib -static -no-pie -Wl,-T,$(GUEST_DIR)/guest.ld \
	-Wl,--build-id=none -Wl,-z,noexecstack -Wl,-z,max-page-size=4096

GUEST_LIB_OBJS := $(addprefix $(GUEST_OBJ)/,crt0.o lib.o fmt.o boot.o)
GUEST_ELFS := $(addprefix $(GUEST_OUT)/,$(addsuffix .elf,$(GUEST_NAMES)))

$(GUEST_OBJ)/%.o: $(GUEST_DIR)/%.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OBJ)/%.o: $(GUEST_DIR)/%.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(GUEST_OUT)/%.elf: $(GUEST_OBJ)/%.o $(GUEST_LIB_OBJS) $(GUEST_DIR)/guest.ld
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $@ $(filter %.o,$^)

# Guests with more than one source file.
$(GUEST_OUT)/smp.elf: $(GUEST_OBJ)/smp_tramp.o
$(addprefix $(GUEST_OUT)/,$(addsuffix .elf,$(GUEST_VIRTIO_NAMES))): $(GUEST_OBJ)/virtio.o

.SECONDARY: $(GUEST_LIB_OBJS) \
	$(addprefix $(GUEST_OBJ)/,$(addsuffix .o,$(GUEST_NAMES)) smp_tramp.o virtio.o)

.PHONY: guests
guests: $(GUEST_ELFS)

-include $(wildcard $(GUEST_OBJ)/*.d)

.DEFAULT_GOAL := $(GUEST_SAVED_GOAL)
