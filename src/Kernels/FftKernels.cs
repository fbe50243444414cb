using ILGPU;

namespace Tomalign.Kernels;

/// <summary>
/// Where the elements of a batch of 1-D transforms lie in a flat complex array (complex index,
/// two floats each): element e of transform t is at
/// (t / Inner)·OuterStride + (t % Inner)·InnerStride + e·ElementStride.
/// Rows of images: Inner = 1, OuterStride = nx, ElementStride = 1. Columns: Inner = nx,
/// OuterStride = nx·ny, InnerStride = 1, ElementStride = nx.
/// </summary>
internal readonly struct FftPass
{
    public FftPass(int n, int ns, int inner, int outerStride, int innerStride, int elementStride, float sign)
    {
        N = n; Ns = ns; Inner = inner; OuterStride = outerStride; InnerStride = innerStride;
        ElementStride = elementStride; Sign = sign;
    }

    /// <summary>Transform length.</summary>
    public int N { get; }
    /// <summary>Product of the radices of the earlier passes.</summary>
    public int Ns { get; }
    public int Inner { get; }
    public int OuterStride { get; }
    public int InnerStride { get; }
    public int ElementStride { get; }
    /// <summary>+1: forward, exp(−2πi…); −1: inverse, exp(+2πi…).</summary>
    public float Sign { get; }

    public long Base(int t) => (long)(t / Inner) * OuterStride + (long)(t % Inner) * InnerStride;
}

/// <summary>A complex value inside the FFT kernels.</summary>
internal readonly struct Cx
{
    public Cx(float re, float im) { Re = re; Im = im; }
    public float Re { get; }
    public float Im { get; }
}

/// <summary>
/// Mixed-radix Stockham FFT passes, one launch per pass, out of place (src → dst), the same
/// algorithm as the managed FftPlan1D. Threads: one per butterfly, index i = t·(N/R) + j,
/// t = transform of the batch, j = butterfly; k = j mod Ns, q = j / Ns. Inputs
/// src[j + r·N/R]·w^(k·r·N/(Ns·R)) with the table w[m] = exp(−2πi·m/N) (conjugated for the
/// inverse); outputs dst[q·Ns·R + k + r·Ns].
/// </summary>
internal static class FftKernels
{

    private static Cx Load(ArrayView<float> src, ArrayView<float> tw, FftPass p, long b, int e, int twIndex)
    {
        long a = 2 * (b + (long)e * p.ElementStride);
        float vr = src[a], vi = src[a + 1];
        float wr = tw[2 * twIndex], wi = p.Sign * tw[2 * twIndex + 1];
        return new Cx(vr * wr - vi * wi, vr * wi + vi * wr);
    }

    private static void Store(ArrayView<float> dst, FftPass p, long b, int e, float re, float im)
    {
        long a = 2 * (b + (long)e * p.ElementStride);
        dst[a] = re;
        dst[a + 1] = im;
    }

    internal static void Radix2(Index1D i, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> tw, FftPass p)
    {
        int m = p.N / 2, t = i / m, j = i % m, k = j % p.Ns, q = j / p.Ns, step = p.N / (p.Ns * 2);
        long b = p.Base(t);
        var x0 = Load(src, tw, p, b, j, 0); float x0r = x0.Re, x0i = x0.Im;
        var x1 = Load(src, tw, p, b, j + m, k * step); float x1r = x1.Re, x1i = x1.Im;
        int o = q * p.Ns * 2 + k;
        Store(dst, p, b, o, x0r + x1r, x0i + x1i);
        Store(dst, p, b, o + p.Ns, x0r - x1r, x0i - x1i);
    }

    internal static void Radix4(Index1D i, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> tw, FftPass p)
    {
        int m = p.N / 4, t = i / m, j = i % m, k = j % p.Ns, q = j / p.Ns, step = p.N / (p.Ns * 4);
        long b = p.Base(t);
        var x0 = Load(src, tw, p, b, j, 0); float x0r = x0.Re, x0i = x0.Im;
        var x1 = Load(src, tw, p, b, j + m, k * step); float x1r = x1.Re, x1i = x1.Im;
        var x2 = Load(src, tw, p, b, j + 2 * m, 2 * k * step); float x2r = x2.Re, x2i = x2.Im;
        var x3 = Load(src, tw, p, b, j + 3 * m, 3 * k * step); float x3r = x3.Re, x3i = x3.Im;
        float ar = x0r + x2r, ai = x0i + x2i, br = x0r - x2r, bi = x0i - x2i;
        float cr = x1r + x3r, ci = x1i + x3i, er = p.Sign * (x1r - x3r), ei = p.Sign * (x1i - x3i);
        int o = q * p.Ns * 4 + k;
        Store(dst, p, b, o, ar + cr, ai + ci);
        Store(dst, p, b, o + p.Ns, br + ei, bi - er);
        Store(dst, p, b, o + 2 * p.Ns, ar - cr, ai - ci);
        Store(dst, p, b, o + 3 * p.Ns, br - ei, bi + er);
    }

    internal static void Radix3(Index1D i, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> tw, FftPass p)
    {
        const float s60 = 0.866025403784438647f;
        int m = p.N / 3, t = i / m, j = i % m, k = j % p.Ns, q = j / p.Ns, step = p.N / (p.Ns * 3);
        long b = p.Base(t);
        var x0 = Load(src, tw, p, b, j, 0); float x0r = x0.Re, x0i = x0.Im;
        var x1 = Load(src, tw, p, b, j + m, k * step); float x1r = x1.Re, x1i = x1.Im;
        var x2 = Load(src, tw, p, b, j + 2 * m, 2 * k * step); float x2r = x2.Re, x2i = x2.Im;
        float tr = x1r + x2r, ti = x1i + x2i;
        float mr = x0r - 0.5f * tr, mi = x0i - 0.5f * ti;
        float sr = p.Sign * s60 * (x1i - x2i), si = -p.Sign * s60 * (x1r - x2r);
        int o = q * p.Ns * 3 + k;
        Store(dst, p, b, o, x0r + tr, x0i + ti);
        Store(dst, p, b, o + p.Ns, mr + sr, mi + si);
        Store(dst, p, b, o + 2 * p.Ns, mr - sr, mi - si);
    }

    internal static void Radix5(Index1D i, ArrayView<float> src, ArrayView<float> dst, ArrayView<float> tw, FftPass p)
    {
        const float c1 = 0.309016994374947424f, c2 = -0.809016994374947424f;
        const float s1 = 0.951056516295153572f, s2 = 0.587785252292473129f;
        int m = p.N / 5, t = i / m, j = i % m, k = j % p.Ns, q = j / p.Ns, step = p.N / (p.Ns * 5);
        long b = p.Base(t);
        var x0 = Load(src, tw, p, b, j, 0); float x0r = x0.Re, x0i = x0.Im;
        var x1 = Load(src, tw, p, b, j + m, k * step); float x1r = x1.Re, x1i = x1.Im;
        var x2 = Load(src, tw, p, b, j + 2 * m, 2 * k * step); float x2r = x2.Re, x2i = x2.Im;
        var x3 = Load(src, tw, p, b, j + 3 * m, 3 * k * step); float x3r = x3.Re, x3i = x3.Im;
        var x4 = Load(src, tw, p, b, j + 4 * m, 4 * k * step); float x4r = x4.Re, x4i = x4.Im;
        float t1r = x1r + x4r, t1i = x1i + x4i, t2r = x2r + x3r, t2i = x2i + x3i;
        float d1r = x1r - x4r, d1i = x1i - x4i, d2r = x2r - x3r, d2i = x2i - x3i;
        float a1r = x0r + c1 * t1r + c2 * t2r, a1i = x0i + c1 * t1i + c2 * t2i;
        float a2r = x0r + c2 * t1r + c1 * t2r, a2i = x0i + c2 * t1i + c1 * t2i;
        float b1r = p.Sign * (s1 * d1r + s2 * d2r), b1i = p.Sign * (s1 * d1i + s2 * d2i);
        float b2r = p.Sign * (s2 * d1r - s1 * d2r), b2i = p.Sign * (s2 * d1i - s1 * d2i);
        int o = q * p.Ns * 5 + k;
        Store(dst, p, b, o, x0r + t1r + t2r, x0i + t1i + t2i);
        Store(dst, p, b, o + p.Ns, a1r + b1i, a1i - b1r);
        Store(dst, p, b, o + 4 * p.Ns, a1r - b1i, a1i + b1r);
        Store(dst, p, b, o + 2 * p.Ns, a2r + b2i, a2i - b2r);
        Store(dst, p, b, o + 3 * p.Ns, a2r - b2i, a2i + b2r);
    }

    /// <summary>Threads: one per real pixel i of the batch; full[i] = (real[i], 0).</summary>
    internal static void RealToComplex(Index1D i, ArrayView<float> real, ArrayView<float> full)
    {
        full[2L * i] = real[i];
        full[2L * i + 1] = 0f;
    }

    /// <summary>Threads: one per half-spectrum element (kx, ky, b), x fastest; copies it from the full spectrum.</summary>
    internal static void ExtractHalf(Index1D i, ArrayView<float> full, ArrayView<float> half, int nx)
    {
        int w = nx / 2 + 1;
        long row = i / w; int kx = i % w;
        long s = 2 * (row * nx + kx);
        half[2L * i] = full[s];
        half[2L * i + 1] = full[s + 1];
    }

    /// <summary>
    /// Threads: one per full-spectrum element (kx, ky, b); kx ≤ nx/2 copies the half spectrum,
    /// kx &gt; nx/2 takes the Hermitian partner conj(H[(ny−ky) mod ny][nx−kx]).
    /// </summary>
    internal static void ExpandHermitian(Index1D i, ArrayView<float> half, ArrayView<float> full, int nx, int ny)
    {
        int w = nx / 2 + 1;
        int kx = i % nx; long rest = i / nx; int ky = (int)(rest % ny); long b = rest / ny;
        float re, im;
        if (kx < w)
        {
            long s = 2 * ((b * ny + ky) * w + kx);
            re = half[s]; im = half[s + 1];
        }
        else
        {
            int my = ky == 0 ? 0 : ny - ky;
            long s = 2 * ((b * ny + my) * w + (nx - kx));
            re = half[s]; im = -half[s + 1];
        }
        full[2L * i] = re;
        full[2L * i + 1] = im;
    }

    /// <summary>Threads: one per real pixel; real[i] = Re(full[i]).</summary>
    internal static void TakeReal(Index1D i, ArrayView<float> full, ArrayView<float> real) => real[i] = full[2L * i];
}
