using Tomalign.Core.Formats;
using Tomalign.Core.Imaging;
using Tomalign.Core.Reconstruction;
using Tomalign.Cpu;
using Tomalign.Tests.Cli;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// The WBP filter against its analytic definition, and the reconstruction's transfer function against the filter.
/// The definition: the discrete ramp kernel h(0) = 1/4, h(n odd) = −1/(π²n²), h(n even ≠ 0) = 0 (Kak and Slaney,
/// the band-limited ramp |ν| sampled at unit spacing; its spectrum is exactly |ν| on |ν| ≤ ½ when the kernel is not
/// truncated), on a circle of <c>pad</c> samples, times IMOD's radial filter (tilt.com: "RADIAL specifies the frequency
/// at which the Gaussian low pass filter begins followed by the standard deviation of the Gaussian roll-off": 1 up to
/// the cut-off ν_c, exp(−(ν − ν_c)²/(2σ²)) above it, σ the fall-off) or a Hamming window 0.54 + 0.46·cos 2πν.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class WbpFilterTests(ITestOutputHelper output)
{
    private static double Kernel(int n) => n == 0 ? 0.25 : n % 2 != 0 ? -1.0 / (Math.PI * Math.PI * n * n) : 0;

    /// <summary>IMOD's radial filter (or the Hamming window) at ν cycles per pixel.</summary>
    private static double Window(double nu, ReconstructionOptions o) =>
        o.Hamming ? 0.54 + 0.46 * Math.Cos(2 * Math.PI * nu)
        : nu <= o.RadialCutoff ? 1
        : o.RadialFalloff == 0 ? 0
        : Math.Exp(-(nu - o.RadialCutoff) * (nu - o.RadialCutoff) / (2 * o.RadialFalloff * o.RadialFalloff));

    [Theory]
    [InlineData(64, 0.35, 0.035, false)]   // the defaults
    [InlineData(98, 0.35, 0.05, false)]    // pad ≡ 2 (mod 4): the odd sample n = pad/2 sits on the circle once
    [InlineData(200, 0.2, 0.05, false)]
    [InlineData(128, 0.3, 0.0, false)]     // no fall-off: a hard cut
    [InlineData(128, 0.25, 0.0, false)]    // a hard cut on a sample (k 32): the cut-off itself is passed ("up to")
    [InlineData(90, 0.35, 0.035, true)]    // Hamming
    public void IsTheCircularRampKernelsSpectrumTimesTheRadialWindow(int pad, double cutoff, double falloff, bool hamming)
    {
        var o = new ReconstructionOptions { RadialCutoff = cutoff, RadialFalloff = falloff, Hamming = hamming };
        var f = Reconstructor.RampFilter(pad, o);
        Assert.Equal(pad / 2 + 1, f.Length);
        // The kernel on the circle: sample m stands for n = m (m ≤ pad/2) or n = m − pad; for even pad, n = pad/2 once.
        var h = Enumerable.Range(0, pad).Select(m => Kernel(m <= pad / 2 ? m : m - pad)).ToArray();
        for (int k = 0; k < f.Length; k++)
        {
            double re = 0, im = 0;
            for (int m = 0; m < pad; m++) { re += h[m] * Math.Cos(2 * Math.PI * k * m / pad); im -= h[m] * Math.Sin(2 * Math.PI * k * m / pad); }
            Assert.True(Math.Abs(im) < 1e-9, $"the circular kernel is even: imaginary part {im} at k {k}");
            double expected = re * Window((double)k / pad, o) / pad;
            Assert.True(Math.Abs(f[k] - expected) <= 1e-6 / pad + 1e-6 * Math.Abs(expected),
                $"pad {pad}, k {k}: filter {f[k] * pad:G7}/pad, definition {expected * pad:G7}/pad");
        }
    }

    /// <summary>
    /// Up to the cut-off the filter is the ramp |ν| itself, within what truncating the kernel to the circle can change:
    /// at most 2·Σ_{odd n ≥ pad/2} 1/(π²n²) ≈ 2/(π²·pad) (the kernel's spectrum is exactly |ν| untruncated). In particular
    /// the DC term is that small and positive (Σ h = 0 untruncated), not 0 and not a constant offset of the whole ramp.
    /// </summary>
    [Theory]
    [InlineData(64)]
    [InlineData(98)]
    [InlineData(512)]
    public void IsTheRampUpToTheCutoffWithinTheTruncationBound(int pad)
    {
        var o = new ReconstructionOptions();
        var f = Reconstructor.RampFilter(pad, o);
        double bound = 0;
        for (int n = pad / 2 - 1; n < 2_000_000; n++) if (n % 2 != 0 && n >= pad / 2) bound += 2 / (Math.PI * Math.PI * n * n);
        bound += 2 / (Math.PI * Math.PI * 2_000_000.0) + 1e-7;   // the rest of the tail: Σ_{odd n ≥ N} 1/n² < 1/N
        double worst = 0;
        for (int k = 0; (double)k / pad <= o.RadialCutoff; k++)
        {
            double ramp = (double)k / pad, got = f[k] * pad;
            worst = Math.Max(worst, Math.Abs(got - ramp));
            Assert.True(Math.Abs(got - ramp) <= bound, $"pad {pad}, ν {ramp:F4}: filter {got:F6}, ramp {ramp:F6}, bound {bound:E2}");
        }
        Assert.True(f[0] > 0, $"DC term {f[0] * pad:E3}/pad");
        output.WriteLine($"pad {pad}: largest departure from |ν| below the cut-off {worst:E2} (bound {bound:E2}), DC {f[0] * pad:E3}");
    }

    /// <summary>
    /// The reconstruction's transfer function: a Gaussian point (SD 0.7 voxel) projected exactly at 89 tilts over ±88°
    /// (2° steps, no missing wedge to speak of) and reconstructed by WBP with a low cut-off (0.2, fall-off 0.04). In the
    /// point's x–z plane the reconstruction's 2-D spectrum, divided by the point's own (2πσ²·exp(−2π²σ²ρ²)), must follow
    /// the filter's window: ≈ 1 below the cut-off (the ramp undoes the backprojection's 1/ρ; linear interpolation costs
    /// a few per cent at ρ 0.1) and ≈ 0 well above it. A filter whose cut-off is ignored, or whose ramp is offset (DC
    /// term), or a backprojection off in scale or position, moves these ratios. Measured 0.99 / 0.95 / 0.05 at ρ 0.06 / 0.12 / 0.40.
    /// </summary>
    [Fact]
    public void APointsTransferFunctionFollowsTheRadialFilter()
    {
        using var dir = new TempDir();
        const int n = 64, rows = 5, thickness = 64;
        const double sigma = 0.7, px = 0.3, pz = -0.4;   // off the voxel grid a little
        var o = new ReconstructionOptions { Thickness = thickness, RadialCutoff = 0.2, RadialFalloff = 0.04 };
        var tilts = Enumerable.Range(0, 89).Select(i => -88.0 + 2 * i).ToArray();
        var stack = new ImageStack(n, rows, tilts.Length);
        // Line integral of exp(−r²/2σ²) in the x–z plane along a ray: √(2π)·σ·exp(−d²/2σ²), d the ray's distance to the point.
        for (int i = 0; i < tilts.Length; i++)
        {
            double t = tilts[i] * Math.PI / 180, u0 = px * Math.Cos(t) + pz * Math.Sin(t) + n / 2.0;
            for (int x = 0; x < n; x++)
            {
                float value = (float)(Math.Sqrt(2 * Math.PI) * sigma * Math.Exp(-(x - u0) * (x - u0) / (2 * sigma * sigma)));
                for (int y = 0; y < rows; y++) stack[x, y, i] = value;   // the same point in every row: each row is one x–z plane
            }
        }
        MrcWriter.WriteStack(dir.File("p.ali"), stack);
        new Reconstructor(new CpuBackend()).Run(dir.File("p.ali"), tilts, dir.File("p.rec"), o);
        using var reader = MrcReader.Open(dir.File("p.rec"));
        var vol = reader.ReadAll();
        const int row = rows / 2;
        // |F(ρ)| averaged over 24 directions, about the point's true position (x0, z0) in the volume.
        double x0 = px + n / 2.0, z0 = pz + thickness / 2.0;
        double Transfer(double rho)
        {
            double sum = 0;
            for (int a = 0; a < 24; a++)
            {
                double phi = Math.PI * a / 24, fx = rho * Math.Cos(phi), fz = rho * Math.Sin(phi), re = 0, im = 0;
                for (int z = 0; z < thickness; z++)
                    for (int x = 0; x < n; x++)
                    {
                        double v = vol[x, row, z], ph = -2 * Math.PI * (fx * (x - x0) + fz * (z - z0));
                        re += v * Math.Cos(ph); im += v * Math.Sin(ph);
                    }
                sum += Math.Sqrt(re * re + im * im);
            }
            return sum / 24 / (2 * Math.PI * sigma * sigma * Math.Exp(-2 * Math.PI * Math.PI * sigma * sigma * rho * rho));
        }
        double low = Transfer(0.06), mid = Transfer(0.12), high = Transfer(0.40);
        output.WriteLine($"transfer at ρ 0.06 / 0.12 / 0.40: {low:F3} / {mid:F3} / {high:F3} (window 1 / 1 / {Window(0.40, o):E1})");
        Assert.InRange(low, 0.9, 1.05);
        Assert.InRange(mid, 0.85, 1.05);
        // Measured 0.052: what reaches ρ 0.40 is the linear interpolation's aliases (of the pass band at 1 − ρ along each view),
        // not the filter; with the cut-off ignored it is 0.76.
        Assert.True(high < 0.15, $"transfer {high:F3} at ρ 0.40, twice the cut-off");
    }
}
