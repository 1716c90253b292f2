#!/usr/bin/python3
# SPDX-License-Identifier: ISC
#
# pam-check.py SERVICE USER [PASSWORD] — exercises a PAM stack the way dwell
# does (used by t-sandbox.sh to check the sandbox's PAM, not by dwell): with a
# PASSWORD, pam_authenticate; then pam_acct_mgmt, pam_setcred,
# pam_open_session, the PAM environment, pam_close_session. Prints one
# "step: result" line per step and exits 0 only if every step succeeded.
import ctypes
import ctypes.util
import sys

PAM_PROMPT_ECHO_OFF = 1
PAM_PROMPT_ECHO_ON = 2
PAM_ESTABLISH_CRED = 0x0002
PAM_DELETE_CRED = 0x0004

libpam = ctypes.CDLL(ctypes.util.find_library("pam") or "libpam.so.0")
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.calloc.restype = ctypes.c_void_p
libc.calloc.argtypes = [ctypes.c_size_t, ctypes.c_size_t]
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV_FUNC = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_int,
    ctypes.POINTER(ctypes.POINTER(PamMessage)),
    ctypes.POINTER(ctypes.POINTER(PamResponse)), ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


service, user = sys.argv[1], sys.argv[2]
password = sys.argv[3] if len(sys.argv) > 3 else None


def conv(n, msgs, resp, _data):
    arr = libc.calloc(n, ctypes.sizeof(PamResponse))
    replies = ctypes.cast(arr, ctypes.POINTER(PamResponse))
    for i in range(n):
        style = msgs[i].contents.msg_style
        if style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON) and password is not None:
            replies[i].resp = libc.strdup(password.encode())
        else:
            text = msgs[i].contents.msg
            print("message: %s" % (text.decode() if text else ""))
    resp[0] = replies
    return 0


libpam.pam_start.argtypes = [ctypes.c_char_p, ctypes.c_char_p,
                             ctypes.POINTER(PamConv), ctypes.POINTER(ctypes.c_void_p)]
libpam.pam_strerror.restype = ctypes.c_char_p
libpam.pam_strerror.argtypes = [ctypes.c_void_p, ctypes.c_int]
libpam.pam_getenv.restype = ctypes.c_char_p
libpam.pam_getenv.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
for f in ("pam_authenticate", "pam_acct_mgmt", "pam_setcred",
          "pam_open_session", "pam_close_session"):
    getattr(libpam, f).argtypes = [ctypes.c_void_p, ctypes.c_int]
libpam.pam_end.argtypes = [ctypes.c_void_p, ctypes.c_int]

callback = CONV_FUNC(conv)
pconv = PamConv(callback, None)
handle = ctypes.c_void_p()
r = libpam.pam_start(service.encode(), user.encode(), ctypes.byref(pconv), ctypes.byref(handle))
if r != 0:
    print("start: failed %d" % r)
    sys.exit(1)

ok = True


def step(name, rc):
    global ok
    print("%s: %s" % (name, libpam.pam_strerror(handle, rc).decode()))
    if rc != 0:
        ok = False
    return rc == 0


if password is None or step("authenticate", libpam.pam_authenticate(handle, 0)):
    if step("acct_mgmt", libpam.pam_acct_mgmt(handle, 0)):
        step("setcred", libpam.pam_setcred(handle, PAM_ESTABLISH_CRED))
        if step("open_session", libpam.pam_open_session(handle, 0)):
            v = libpam.pam_getenv(handle, b"DWELL_TEST_PAM_ENV")
            print("env DWELL_TEST_PAM_ENV: %s" % (v.decode() if v else "(unset)"))
            step("close_session", libpam.pam_close_session(handle, 0))
        libpam.pam_setcred(handle, PAM_DELETE_CRED)
libpam.pam_end(handle, 0)
sys.exit(0 if ok else 1)
