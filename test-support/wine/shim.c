/*
 * bcryptprimitives.dll shim for Wine 8.0.
 *
 * Rust >= 1.78 std on Windows imports exactly one symbol from
 * bcryptprimitives.dll: ProcessPrng (used for HashMap's RandomState and
 * other randomness). Wine 8.0 (Debian 12) ships no bcryptprimitives.dll at
 * all, so every Rust binary fails to load (exit code 53, no message).
 *
 * This DLL exports ProcessPrng and forwards it to SystemFunction036
 * (RtlGenRandom) from advapi32, which Wine implements. ProcessPrng is
 * documented to always return TRUE; RtlGenRandom's result is passed
 * through so a failure is at least visible to the caller.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -shared -o bcryptprimitives.dll shim.c \
 *            -ladvapi32 -Wl,--kill-at
 * Install: copy to $WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll
 * (`cargo xtask wine-setup` does both).
 */
#include <windows.h>

/* SystemFunction036 is RtlGenRandom; declared here to avoid ntsecapi.h
 * quirks across mingw versions. It takes a ULONG length, so large requests
 * are fed in chunks. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffffu ? 0x7fffffffu : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE inst, DWORD reason, LPVOID reserved)
{
    (void)inst;
    (void)reason;
    (void)reserved;
    return TRUE;
}
