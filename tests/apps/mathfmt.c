/* libm results and printf formatting, printed for comparison with a native musl run. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <stddef.h>

int main(void)
{
	volatile double two = 2.0, half = 0.5, x = 1.2345678901234567;

	printf("sqrt(2)=%.17g\n", sqrt(two));
	printf("cbrt(27)=%.17g\n", cbrt(27.0 * half * 2));
	printf("sin(0.5)=%.17g cos(0.5)=%.17g tan(0.5)=%.17g\n", sin(half), cos(half), tan(half));
	printf("asin(0.5)=%.17g atan2(1,2)=%.17g\n", asin(half), atan2(1.0, two));
	printf("exp(1)=%.17g exp(-2.5)=%.17g expm1(1e-10)=%.17g\n", exp(half * 2),
	       exp(-2.5 * half * 2), expm1(1e-10));
	printf("log(10)=%.17g log2(1024)=%.17g log10(0.001)=%.17g log1p(1e-10)=%.17g\n",
	       log(10.0 * half * 2), log2(1024.0), log10(0.001), log1p(1e-10));
	printf("pow(2,0.5)=%.17g pow(1.5,40)=%.17g pow(-2,3)=%.17g\n", pow(two, half),
	       pow(1.5, 40.0), pow(-two, 3.0));
	printf("fmod(10,3)=%.17g fmod(-7.5,2)=%.17g remainder(10,3)=%.17g\n", fmod(10.0, 3.0),
	       fmod(-7.5, two), remainder(10.0, 3.0));
	printf("floor(-1.5)=%g ceil(-1.5)=%g round(2.5)=%g trunc(-2.7)=%g rint(2.5)=%g\n",
	       floor(-1.5 * half * 2), ceil(-1.5), round(2.5), trunc(-2.7), rint(2.5));
	printf("hypot(3,4)=%g fabs(-0.0)=%g copysign(1,-0.0)=%g\n", hypot(3.0, 4.0), fabs(-0.0),
	       copysign(1.0, -0.0));
	printf("sinh(1)=%.17g tanh(0.5)=%.17g erf(0.5)=%.17g tgamma(5)=%.17g lgamma(10)=%.17g\n",
	       sinh(1.0), tanh(half), erf(half), tgamma(5.0), lgamma(10.0));
	printf("sqrtf(2)=%.9g sinf(1)=%.9g expf(1)=%.9g powf(3,0.25)=%.9g\n", sqrtf(2.0f),
	       sinf(1.0f), expf(1.0f), powf(3.0f, 0.25f));
	printf("nan=%f inf=%f -inf=%e isnan=%d isinf=%d\n", NAN, INFINITY, -INFINITY, isnan(NAN),
	       isinf(-INFINITY));
	printf("x=%f %e %g %a\n", x, x, x, x);
	printf("1e300*1e10=%g 1e-320=%g DBL_MIN=%g\n", 1e300 * (x * 1e10 / x), 1e-320,
	       2.2250738585072014e-308);

	printf("[%d] [%5d] [%-5d] [%05d] [%+d] [% d] [%.3d]\n", -42, 42, 42, 42, 42, 42, 7);
	printf("[%x] [%X] [%#x] [%o] [%#o] [%08x]\n", 0xbeefu, 0xbeefu, 255u, 8u, 8u, 0xabcu);
	printf("[%u] [%lu] [%lld] [%llu] [%hd] [%hhu]\n", 4294967295u, 18446744073709551615ul,
	       -9223372036854775807ll - 1, 18446744073709551615ull, (short)-32768,
	       (unsigned char)300);
	printf("[%zu] [%zd] [%jd] [%td]\n", sizeof(long double), (ssize_t)-5, (intmax_t)-123456789,
	       (ptrdiff_t)-1);
	printf("[%f] [%.0f] [%.1f] [%10.3f] [%-10.2f] [%+.2e] [%E]\n", 3.14159265358979, 2.5, 0.05,
	       -3.14159, 2.0, 12345.678, 0.000123);
	printf("[%g] [%g] [%g] [%G] [%.3g] [%#g] [%g]\n", 100000.0, 1000000.0, 0.0001, 1e-5,
	       3.14159, 1.0, 0.0);
	printf("[%a] [%A] [%.2a] [%La]\n", 1.0, -0.1, 1.0 / 3, (long double)1.5);
	printf("[%Lf] [%.20Lg]\n", (long double)1 / 3, (long double)2 / 3);
	printf("[%s] [%10s] [%-10s] [%.3s] [%c%c%c] [%%]\n", "str", "right", "left", "truncate",
	       'a', 'b', 'c');
	printf("[%p] [%p]\n", (void *)0x1234, (void *)0);
	printf("[%*d] [%-*d] [%.*f]\n", 6, 12, 6, 12, 2, 3.14159);
	char buf[64];
	const char *volatile src = "overflowing";
	int n = snprintf(buf, 8, "%s", src);
	printf("snprintf=%d [%s]\n", n, buf);
	double d;
	int i;
	char word[16];
	n = sscanf("  3.25 -17 token", "%lf %d %15s", &d, &i, word);
	printf("sscanf=%d %g %d %s\n", n, d, i, word);
	printf("strtod=%.17g strtol=%ld\n", strtod("6.02214076e23", NULL),
	       strtol("-0x7fff", NULL, 16));
	return 0;
}
