/* The vCPU side of device work handed to the vmm thread (vcpu_wait_ops): a waiting vCPU
 * counts as parked for vm_pause, a wake or vm_stop ends the wait, nothing hangs. No KVM:
 * the VM here is only the pause and stop state, and the "vCPU" a plain thread. */
#include "unit.h"

#include "virtio/virtio.h"
#include "vmm/vm.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>

struct fx {
	struct vm vm;
	struct kvm_run run;
};

struct waiter {
	struct vm *vm;
	atomic_bool ready; /* done() says so */
	atomic_bool returned;
};

static void on_kick(int sig)
{
	(void)sig;
}

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	struct vm *vm = &f.vm;
	struct sigaction sa = {.sa_handler = on_kick};
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(VCPU_KICK_SIGNAL, &sa, NULL), 0);
	assert_int_equal(pthread_mutex_init(&vm->pause_lock, NULL), 0);
	assert_int_equal(pthread_cond_init(&vm->pause_cond, NULL), 0);
	vm->pause_ready = true;
	atomic_init(&vm->exit_status, -1);
	vm->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(vm->stop_fd >= 0);
	vm->nvcpus = 1;
	vm->vcpus[0].vm = vm;
	vm->vcpus[0].run = &f.run;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	close(f->vm.stop_fd);
	pthread_cond_destroy(&f->vm.pause_cond);
	pthread_mutex_destroy(&f->vm.pause_lock);
	return 0;
}

static bool ready(void *arg)
{
	struct waiter *w = arg;
	return atomic_load(&w->ready);
}

static void *vcpu_waits(void *arg)
{
	struct waiter *w = arg;
	vcpu_wait_ops.wait(w->vm, ready, w);
	atomic_store(&w->returned, true);
	return NULL;
}

/* Start the waiting "vCPU" and return once it counts as parked. */
static void start_waiter(struct fx *f, struct waiter *w)
{
	struct vcpu *v = &f->vm.vcpus[0];
	w->vm = &f->vm;
	assert_int_equal(pthread_create(&v->thread, NULL, vcpu_waits, w), 0);
	v->started = true;
	for (int i = 0; i < 5000; i++) {
		pthread_mutex_lock(&f->vm.pause_lock);
		unsigned parked = f->vm.parked;
		pthread_mutex_unlock(&f->vm.pause_lock);
		if (parked == 1)
			return;
		usleep(1000);
	}
	fail_msg("the waiting vCPU never counted as parked");
}

/* Join the "vCPU", failing (not hanging) if it does not end within 5 s. */
static void join_waiter(struct fx *f, struct waiter *w)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_sec += 5;
	assert_int_equal(pthread_timedjoin_np(f->vm.vcpus[0].thread, NULL, &t), 0);
	f->vm.vcpus[0].started = false;
	assert_true(atomic_load(&w->returned));
}

static void wake_ends_wait(void **state)
{
	struct fx *f = *state;
	static struct waiter w;
	memset(&w, 0, sizeof(w));
	start_waiter(f, &w);
	vcpu_wait_ops.wake(&f->vm); /* work done elsewhere: this vCPU's is not */
	usleep(20000);
	assert_false(atomic_load(&w.returned));
	atomic_store(&w.ready, true);
	vcpu_wait_ops.wake(&f->vm);
	join_waiter(f, &w);
	assert_int_equal(f->vm.parked, 0);
}

/* The vmm thread pauses the VM while a vCPU waits for device work the vmm thread has not
 * done yet: the pause must not wait for it, and a stop must end the wait. */
static void pause_then_stop_while_waiting(void **state)
{
	struct fx *f = *state;
	static struct waiter w;
	memset(&w, 0, sizeof(w));
	start_waiter(f, &w);
	alarm(10); /* a hang in vm_pause ends the test, loudly */
	vm_pause(&f->vm);
	alarm(0);
	assert_false(atomic_load(&w.returned));
	assert_int_equal(f->run.immediate_exit, 1);
	vm_stop(&f->vm, 7);
	join_waiter(f, &w);
	assert_int_equal(atomic_load(&f->vm.exit_status), 7);
	uint64_t n;
	assert_int_equal(read(f->vm.stop_fd, &n, 8), 8); /* the vmm loop was woken */
	/* A vCPU that asks for device work once the VM stopped does not wait at all. */
	memset(&w, 0, sizeof(w));
	w.vm = &f->vm;
	vcpu_waits(&w);
	assert_true(atomic_load(&w.returned));
}

int main(void)
{
	unit_init();
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(wake_ends_wait, setup, teardown),
	    cmocka_unit_test_setup_teardown(pause_then_stop_while_waiting, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
