using System.Numerics;
using System.Runtime.InteropServices;
using Tomalign.Core.Fft;

namespace Tomalign.Cpu.Fft;

/// <summary>
/// A complex 1-D FFT of one size 2^a·3^b·5^c: mixed-radix Stockham autosort (radices 4, 2, 3, 5),
/// out of place with a ping-pong buffer, split real/imaginary double arrays, twiddles
/// precomputed per pass. Forward sign: exp(−2πi·jk/n), unnormalised. Immutable and thread-safe;
/// callers pass their own scratch.
/// </summary>
/// <remarks>
/// Pass p with radix R after earlier passes of total length Ns: for butterfly j = q·Ns + k
/// (k &lt; Ns), inputs x_r = src[j + r·n/R]·exp(−2πi·k·r/(Ns·R)), outputs the R-point DFT of x
/// to dst[q·Ns·R + k + r·Ns]. The ILGPU kernel (FftKernels) runs the same passes.
/// </remarks>
public sealed class FftPlan1D
{
    private readonly Pass[] _passes;

    private sealed record Pass(int Radix, int Ns, double[] TwRe, double[] TwIm);

    public FftPlan1D(int n)
    {
        N = n;
        var radices = FftSize.Radices(n);
        _passes = new Pass[radices.Length];
        int ns = 1;
        for (int p = 0; p < radices.Length; p++)
        {
            int r = radices[p];
            var twRe = new double[ns * (r - 1)];
            var twIm = new double[ns * (r - 1)];
            for (int k = 0; k < ns; k++)
                for (int q = 1; q < r; q++)
                {
                    double a = -2.0 * Math.PI * k * q / (ns * r);
                    twRe[k * (r - 1) + q - 1] = Math.Cos(a);
                    twIm[k * (r - 1) + q - 1] = Math.Sin(a);
                }
            _passes[p] = new Pass(r, ns, twRe, twIm);
            ns *= r;
        }
    }

    public int N { get; }

    /// <summary>Forward transform in place of (re, im); sre/sim are scratch of length ≥ N.</summary>
    public void Forward(Span<double> re, Span<double> im, Span<double> sre, Span<double> sim) =>
        Forward(MemoryMarshal.Cast<double, ScalarLane>(re), MemoryMarshal.Cast<double, ScalarLane>(im),
            MemoryMarshal.Cast<double, ScalarLane>(sre), MemoryMarshal.Cast<double, ScalarLane>(sim));

    /// <summary>
    /// <see cref="Vector{T}.Count"/> transforms at once, lane l of every element belonging to transform l: each lane
    /// does exactly the arithmetic of the one-transform <see cref="Forward(Span{double}, Span{double}, Span{double}, Span{double})"/>.
    /// </summary>
    public void Forward(Span<Vector<double>> re, Span<Vector<double>> im, Span<Vector<double>> sre, Span<Vector<double>> sim) =>
        Forward(MemoryMarshal.Cast<Vector<double>, VectorLane>(re), MemoryMarshal.Cast<Vector<double>, VectorLane>(im),
            MemoryMarshal.Cast<Vector<double>, VectorLane>(sre), MemoryMarshal.Cast<Vector<double>, VectorLane>(sim));

    private void Forward<T>(Span<T> re, Span<T> im, Span<T> sre, Span<T> sim) where T : struct, IFftLane<T>
    {
        Span<T> ar = re, ai = im, br = sre, bi = sim;
        foreach (var pass in _passes)
        {
            switch (pass.Radix)
            {
                case 2: Radix2(pass, ar, ai, br, bi); break;
                case 3: Radix3(pass, ar, ai, br, bi); break;
                case 4: Radix4(pass, ar, ai, br, bi); break;
                default: Radix5(pass, ar, ai, br, bi); break;
            }
            var tr = ar; ar = br; br = tr;
            var ti = ai; ai = bi; bi = ti;
        }
        if (_passes.Length % 2 == 1)
        {
            ar[..N].CopyTo(re);
            ai[..N].CopyTo(im);
        }
    }

    private void Radix2<T>(Pass p, Span<T> sr, Span<T> si, Span<T> dr, Span<T> di) where T : struct, IFftLane<T>
    {
        int n = N, m = n / 2, ns = p.Ns;
        var twr = p.TwRe; var twi = p.TwIm;
        for (int q = 0; q < m / ns; q++)
            for (int k = 0; k < ns; k++)
            {
                int j = q * ns + k;
                T x0r = sr[j], x0i = si[j];
                T wr = T.From(twr[k]), wi = T.From(twi[k]);
                T ar = sr[j + m], ai = si[j + m];
                T x1r = ar * wr - ai * wi, x1i = ar * wi + ai * wr;
                int o = q * ns * 2 + k;
                dr[o] = x0r + x1r; di[o] = x0i + x1i;
                dr[o + ns] = x0r - x1r; di[o + ns] = x0i - x1i;
            }
    }

    private void Radix4<T>(Pass p, Span<T> sr, Span<T> si, Span<T> dr, Span<T> di) where T : struct, IFftLane<T>
    {
        int n = N, m = n / 4, ns = p.Ns;
        var twr = p.TwRe; var twi = p.TwIm;
        for (int q = 0; q < m / ns; q++)
            for (int k = 0; k < ns; k++)
            {
                int j = q * ns + k, t = 3 * k;
                T x0r = sr[j], x0i = si[j];
                T vr = sr[j + m], vi = si[j + m];
                T x1r = vr * T.From(twr[t]) - vi * T.From(twi[t]), x1i = vr * T.From(twi[t]) + vi * T.From(twr[t]);
                vr = sr[j + 2 * m]; vi = si[j + 2 * m];
                T x2r = vr * T.From(twr[t + 1]) - vi * T.From(twi[t + 1]), x2i = vr * T.From(twi[t + 1]) + vi * T.From(twr[t + 1]);
                vr = sr[j + 3 * m]; vi = si[j + 3 * m];
                T x3r = vr * T.From(twr[t + 2]) - vi * T.From(twi[t + 2]), x3i = vr * T.From(twi[t + 2]) + vi * T.From(twr[t + 2]);
                T ar = x0r + x2r, ai = x0i + x2i, br = x0r - x2r, bi = x0i - x2i;
                T cr = x1r + x3r, ci = x1i + x3i, er = x1r - x3r, ei = x1i - x3i;
                int o = q * ns * 4 + k;
                dr[o] = ar + cr; di[o] = ai + ci;
                dr[o + ns] = br + ei; di[o + ns] = bi - er;
                dr[o + 2 * ns] = ar - cr; di[o + 2 * ns] = ai - ci;
                dr[o + 3 * ns] = br - ei; di[o + 3 * ns] = bi + er;
            }
    }

    private const double S60 = 0.86602540378443864676; // sin(2π/3)

    private void Radix3<T>(Pass p, Span<T> sr, Span<T> si, Span<T> dr, Span<T> di) where T : struct, IFftLane<T>
    {
        int n = N, m = n / 3, ns = p.Ns;
        var twr = p.TwRe; var twi = p.TwIm;
        for (int q = 0; q < m / ns; q++)
            for (int k = 0; k < ns; k++)
            {
                int j = q * ns + k, t = 2 * k;
                T x0r = sr[j], x0i = si[j];
                T vr = sr[j + m], vi = si[j + m];
                T x1r = vr * T.From(twr[t]) - vi * T.From(twi[t]), x1i = vr * T.From(twi[t]) + vi * T.From(twr[t]);
                vr = sr[j + 2 * m]; vi = si[j + 2 * m];
                T x2r = vr * T.From(twr[t + 1]) - vi * T.From(twi[t + 1]), x2i = vr * T.From(twi[t + 1]) + vi * T.From(twr[t + 1]);
                T tr = x1r + x2r, ti = x1i + x2i;
                T mr = x0r - T.From(0.5) * tr, mi = x0i - T.From(0.5) * ti;
                T sr2 = T.From(S60) * (x1i - x2i), si2 = T.From(-S60) * (x1r - x2r);
                int o = q * ns * 3 + k;
                dr[o] = x0r + tr; di[o] = x0i + ti;
                dr[o + ns] = mr + sr2; di[o + ns] = mi + si2;
                dr[o + 2 * ns] = mr - sr2; di[o + 2 * ns] = mi - si2;
            }
    }

    private const double C1 = 0.30901699437494742410, C2 = -0.80901699437494742410; // cos(2π/5), cos(4π/5)
    private const double S1 = 0.95105651629515357212, S2 = 0.58778525229247312917; // sin(2π/5), sin(4π/5)

    private void Radix5<T>(Pass p, Span<T> sr, Span<T> si, Span<T> dr, Span<T> di) where T : struct, IFftLane<T>
    {
        int n = N, m = n / 5, ns = p.Ns;
        var twr = p.TwRe; var twi = p.TwIm;
        for (int q = 0; q < m / ns; q++)
            for (int k = 0; k < ns; k++)
            {
                int j = q * ns + k, t = 4 * k;
                T x0r = sr[j], x0i = si[j];
                T vr = sr[j + m], vi = si[j + m];
                T x1r = vr * T.From(twr[t]) - vi * T.From(twi[t]), x1i = vr * T.From(twi[t]) + vi * T.From(twr[t]);
                vr = sr[j + 2 * m]; vi = si[j + 2 * m];
                T x2r = vr * T.From(twr[t + 1]) - vi * T.From(twi[t + 1]), x2i = vr * T.From(twi[t + 1]) + vi * T.From(twr[t + 1]);
                vr = sr[j + 3 * m]; vi = si[j + 3 * m];
                T x3r = vr * T.From(twr[t + 2]) - vi * T.From(twi[t + 2]), x3i = vr * T.From(twi[t + 2]) + vi * T.From(twr[t + 2]);
                vr = sr[j + 4 * m]; vi = si[j + 4 * m];
                T x4r = vr * T.From(twr[t + 3]) - vi * T.From(twi[t + 3]), x4i = vr * T.From(twi[t + 3]) + vi * T.From(twr[t + 3]);
                T t1r = x1r + x4r, t1i = x1i + x4i, t2r = x2r + x3r, t2i = x2i + x3i;
                T d1r = x1r - x4r, d1i = x1i - x4i, d2r = x2r - x3r, d2i = x2i - x3i;
                T a1r = x0r + T.From(C1) * t1r + T.From(C2) * t2r, a1i = x0i + T.From(C1) * t1i + T.From(C2) * t2i;
                T a2r = x0r + T.From(C2) * t1r + T.From(C1) * t2r, a2i = x0i + T.From(C2) * t1i + T.From(C1) * t2i;
                T b1r = T.From(S1) * d1r + T.From(S2) * d2r, b1i = T.From(S1) * d1i + T.From(S2) * d2i;
                T b2r = T.From(S2) * d1r - T.From(S1) * d2r, b2i = T.From(S2) * d1i - T.From(S1) * d2i;
                int o = q * ns * 5 + k;
                dr[o] = x0r + t1r + t2r; di[o] = x0i + t1i + t2i;
                // y = a ∓ i·b ; −i·b = (b.im, −b.re)
                dr[o + ns] = a1r + b1i; di[o + ns] = a1i - b1r;
                dr[o + 4 * ns] = a1r - b1i; di[o + 4 * ns] = a1i + b1r;
                dr[o + 2 * ns] = a2r + b2i; di[o + 2 * ns] = a2i - b2r;
                dr[o + 3 * ns] = a2r - b2i; di[o + 3 * ns] = a2i + b2r;
            }
    }
}

/// <summary>The element arithmetic of <see cref="FftPlan1D"/>: one double, or one double in each lane of a vector.</summary>
internal interface IFftLane<T> where T : struct, IFftLane<T>
{
    static abstract T operator +(T a, T b);
    static abstract T operator -(T a, T b);
    static abstract T operator *(T a, T b);
    static abstract T From(double value);
}

internal readonly struct ScalarLane(double value) : IFftLane<ScalarLane>
{
    private readonly double _v = value;
    public static ScalarLane operator +(ScalarLane a, ScalarLane b) => new(a._v + b._v);
    public static ScalarLane operator -(ScalarLane a, ScalarLane b) => new(a._v - b._v);
    public static ScalarLane operator *(ScalarLane a, ScalarLane b) => new(a._v * b._v);
    public static ScalarLane From(double value) => new(value);
}

internal readonly struct VectorLane(Vector<double> value) : IFftLane<VectorLane>
{
    private readonly Vector<double> _v = value;
    public static VectorLane operator +(VectorLane a, VectorLane b) => new(a._v + b._v);
    public static VectorLane operator -(VectorLane a, VectorLane b) => new(a._v - b._v);
    public static VectorLane operator *(VectorLane a, VectorLane b) => new(a._v * b._v);
    public static VectorLane From(double value) => new(new Vector<double>(value));
}
