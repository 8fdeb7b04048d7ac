/* Which vector paths this CPU runs, asked once through cpuid (GCC/Clang builtins). */
#include "longctx/core.h"

#if defined(__x86_64__) && defined(LONGCTX_HAVE_X86_PATHS)
#include <cpuid.h>

/* F16C through cpuid itself: clang before 16 does not know "f16c" in __builtin_cpu_supports. */
/* Asked once: cpuid traps to the hypervisor on a virtual machine, and this is asked on every
 * kernel call that resolves its ISA (racing threads store the same answer). */
static int has_f16c(void) {
    static volatile int known = -1;
    if (known < 0) {
        unsigned a, b, c, d;
        known = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
    }
    return known;
}
#endif

int lc_isa_supported(lc_isa isa) {
    switch (isa) {
    case LC_ISA_AUTO:
    case LC_ISA_PORTABLE: return 1;
#if defined(__x86_64__) && defined(LONGCTX_HAVE_X86_PATHS)
    case LC_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c();
    case LC_ISA_AVX512:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
    case LC_ISA_AVX2:
    case LC_ISA_AVX512: return 0;
#endif
    }
    return 0;
}

lc_isa lc_isa_best(void) {
    if (lc_isa_supported(LC_ISA_AVX512)) return LC_ISA_AVX512;
    if (lc_isa_supported(LC_ISA_AVX2)) return LC_ISA_AVX2;
    return LC_ISA_PORTABLE;
}

const char *lc_isa_name(lc_isa isa) {
    switch (isa) {
    case LC_ISA_AUTO: return "auto";
    case LC_ISA_PORTABLE: return "portable";
    case LC_ISA_AVX2: return "avx2";
    case LC_ISA_AVX512: return "avx512";
    }
    return "?";
}

lc_status lc_isa_resolve(lc_isa requested, lc_isa *resolved) {
    if (!resolved) return lc_error(LC_EINVAL, "lc_isa_resolve: resolved must not be NULL");
    if (requested == LC_ISA_AUTO) {
        *resolved = lc_isa_best();
        return LC_OK;
    }
    if (requested < LC_ISA_AUTO || requested > LC_ISA_AVX512)
        return lc_error(LC_EINVAL, "isa=%d is not a known instruction-set path", (int)requested);
    if (!lc_isa_supported(requested))
        return lc_error(LC_EUNSUPPORTED, "isa=%s is not supported by this CPU or build", lc_isa_name(requested));
    *resolved = requested;
    return LC_OK;
}
