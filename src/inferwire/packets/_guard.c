/* inferwire.packets._guard: survive a mapped capture that shrinks while it is read.
 *
 * Reading a page of a file mapping that lies past the file's end raises SIGBUS (si_code
 * BUS_ADRERR), which kills the process without a word: a capture being rotated, truncated or
 * rewritten by another program did exactly that (exit 135).  Python cannot handle this signal
 * itself (its handlers run between bytecodes, after the faulting instruction: the fault would
 * repeat for ever).  The handler here puts an anonymous zero page over the faulting page and
 * counts the fault; the read then completes (with zeros) and the reader, which compares
 * faults() and the file's size before and after, reports the shrink as a CaptureFormatError.
 *
 * Any other SIGBUS (alignment, hardware memory errors) is handed to the handler that was there
 * before (Python's faulthandler, or the default action).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t fault_count = 0;
static struct sigaction previous;
static uintptr_t page_mask = 0;
static int installed = 0;

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    if (info != NULL && info->si_code == BUS_ADRERR && info->si_addr != NULL) {
        void *page = (void *)((uintptr_t)info->si_addr & page_mask);
        void *got = mmap(page, (size_t)(~page_mask + 1), PROT_READ,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        if (got != MAP_FAILED) {
            fault_count++;
            return;                       /* the read is retried and now finds zeros */
        }
    }
    /* not a read past a mapped file's end: the previous handler decides (on the re-fault) */
    sigaction(SIGBUS, &previous, NULL);
    (void)sig;
    (void)context;
}

static PyObject *install(PyObject *self, PyObject *unused)
{
    struct sigaction action;
    if (!installed) {
        long page = sysconf(_SC_PAGESIZE);
        page_mask = ~(uintptr_t)((page > 0 ? page : 4096) - 1);
        memset(&action, 0, sizeof action);
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&action.sa_mask);
        if (sigaction(SIGBUS, &action, &previous) != 0)
            return PyErr_SetFromErrno(PyExc_OSError);
        installed = 1;
    }
    Py_RETURN_NONE;
}

static PyObject *faults(PyObject *self, PyObject *unused)
{
    return PyLong_FromLong((long)fault_count);
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS,
     "install() -> None: the SIGBUS handler (once per process; forked children inherit it)"},
    {"faults", faults, METH_NOARGS,
     "faults() -> int: reads past a mapped file's end survived so far in this process"},
    {NULL, NULL, 0, NULL}
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "inferwire.packets._guard",
    "SIGBUS from a shrinking mapped capture -> a counted zero page", -1, methods
};

PyMODINIT_FUNC PyInit__guard(void)
{
    return PyModule_Create(&module);
}
