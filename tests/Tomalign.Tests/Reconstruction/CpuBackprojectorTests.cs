using Tomalign.Core.Backend;
using Tomalign.Cpu;
using Xunit;

namespace Tomalign.Tests.Reconstruction;

/// <summary>The managed backprojector (views outermost, bounds tests out of the inner loop) against the plain per-voxel formula.</summary>
public sealed class CpuBackprojectorTests
{
    [Theory]
    [InlineData(1, 0.0, 0f, 0f, 37)]       // the usual case: no x-axis tilt, whole projection rows
    [InlineData(2, 3.0, -1.5f, -4.5f, 37)] // x-axis tilt: fractional rows, rows above and below the projection
    [InlineData(3, -7.0, 2f, 0.25f, 37)]
    [InlineData(4, 0.0, -2f, 0.5f, 37)]    // half-row offset: every row interpolated, first and last rows half outside
    [InlineData(5, 0.0, 0f, 0f, 200)]      // wider than one 64-voxel tile, with a partial last tile
    [InlineData(6, 5.0, -1f, -3.5f, 131)]
    [InlineData(7, 0.0, 0f, 0f, 64)]       // whole tiles only
    public void MatchesThePlainFormulaExactly(int seed, double phiDegrees, float rowOffset, float inOrigin, int width)
    {
        var rng = new Random(seed);
        double phi = phiDegrees * Math.PI / 180;
        var g = new SlabGeometry(width, 4, 7, 11, (float)(rng.NextDouble() * 4 - 2), 9, (float)Math.Cos(phi), (float)Math.Sin(phi), rowOffset, inOrigin);
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        // Tilts over ±70°, one at exactly 0, so that u runs off both ends of the rows.
        var t = Enumerable.Range(0, g.Views).Select(i => i == 0 ? 0 : (rng.NextDouble() * 140 - 70) * Math.PI / 180).ToArray();
        var cos = t.Select(a => (float)Math.Cos(a)).ToArray();
        var sin = t.Select(a => (float)Math.Sin(a)).ToArray();
        var w = Enumerable.Range(0, g.Views).Select(_ => (float)(rng.NextDouble() + 0.5)).ToArray();
        AssertMatchesPlain(proj, cos, sin, w, g);
    }

    /// <summary>
    /// Cosines the tilt series never has (negative: u falls along the line; above 1.75: the vectorised window cannot hold
    /// 16 voxels' neighbours, so that call takes the per-view path), still the plain formula bit for bit, every voxel written.
    /// </summary>
    [Theory]
    [InlineData(11, -1f)]
    [InlineData(12, 1.9f)]
    public void UnusualCosinesStillMatchThePlainFormula(int seed, float scale)
    {
        var rng = new Random(seed);
        var g = new SlabGeometry(150, 3, 5, 9, 0.5f);
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var cos = Enumerable.Range(0, g.Views).Select(i => scale * (float)(0.5 + 0.5 * rng.NextDouble())).ToArray();
        var sin = Enumerable.Range(0, g.Views).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var w = Enumerable.Range(0, g.Views).Select(_ => (float)(rng.NextDouble() + 0.5)).ToArray();
        AssertMatchesPlain(proj, cos, sin, w, g);
    }

    /// <summary>The managed backprojection into a NaN-filled slab equals <see cref="Plain"/> voxel for voxel, and is not all zeros.</summary>
    private static void AssertMatchesPlain(float[] proj, float[] cos, float[] sin, float[] w, SlabGeometry g)
    {
        var fast = new float[g.SlabLength];
        Array.Fill(fast, float.NaN);
        new CpuBackprojector().Backproject(proj, cos, sin, w, g, fast);
        var plain = Plain(proj, cos, sin, w, g);
        for (int k = 0; k < plain.Length; k++)
            Assert.True(plain[k] == fast[k], $"voxel {k}: {fast[k]} ≠ {plain[k]}");
        Assert.Contains(plain, v => v != 0);
    }

    /// <summary>
    /// The forward projection (vectorised over u, zero-margined lines, no bounds tests) against its plain per-sample
    /// formula, bit for bit, every element written; tilts to ±75° so that rays leave the slab through its sides.
    /// </summary>
    [Theory]
    [InlineData(31, 37)]
    [InlineData(32, 150)]
    public void ProjectionMatchesThePlainFormulaExactly(int seed, int width)
    {
        var rng = new Random(seed);
        var g = new SlabGeometry(width, 3, 6, 13, (float)(rng.NextDouble() * 4 - 2));
        var vol = Enumerable.Range(0, (int)g.SlabLength).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var t = Enumerable.Range(0, g.Views).Select(i => i == 0 ? 0 : (rng.NextDouble() * 150 - 75) * Math.PI / 180).ToArray();
        var cos = t.Select(a => (float)Math.Cos(a)).ToArray();
        var sin = t.Select(a => (float)Math.Sin(a)).ToArray();
        var fast = Enumerable.Repeat(float.NaN, (int)g.ProjectionLength).ToArray();
        new CpuBackprojector().Project(vol, cos, sin, g, fast);
        float xc = width / 2.0f, zc = g.Thickness / 2.0f;
        for (int i = 0; i < g.Views; i++)
            for (int r = 0; r < g.Rows; r++)
                for (int u = 0; u < width; u++)
                {
                    float inv = 1.0f / cos[i], sum = 0;
                    for (int z = 0; z < g.Thickness; z++)
                    {
                        float zz = z - zc + g.ZShift;
                        float x = (u - xc - zz * sin[i]) * inv + xc;
                        sum += CpuBackprojector.Sample(vol, ((long)r * g.Thickness + z) * width, width, x);
                    }
                    float plain = sum * (1.0f / MathF.Abs(cos[i]));
                    int k = (i * g.Rows + r) * width + u;
                    Assert.True(plain == fast[k], $"view {i}, row {r}, u {u}: {fast[k]} ≠ {plain}");
                }
    }

    /// <summary>
    /// The row filter two lines per complex transform (the managed FFT) against the batched real transforms of another
    /// FFT (MathNet's), on an odd number of lines (the last one alone): the same filtered lines within float rounding.
    /// </summary>
    [Fact]
    public void PairedRowFilterMatchesTheBatchedOne()
    {
        var rng = new Random(21);
        const int count = 7, width = 90, pad = 192;
        var lines = Enumerable.Range(0, count * width).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var filter = Enumerable.Range(0, pad / 2 + 1).Select(_ => (float)rng.NextDouble() / pad).ToArray();
        var paired = Enumerable.Repeat(float.NaN, lines.Length).ToArray();
        var batched = Enumerable.Repeat(float.NaN, lines.Length).ToArray();
        new CpuBackprojector().FilterRows(lines, count, width, filter, pad, paired);
        new CpuBackprojector(fft: new Tomalign.Cpu.Fft.MathNetFft2D()).FilterRows(lines, count, width, filter, pad, batched);
        Assert.DoesNotContain(paired, float.IsNaN);
        double num = 0, den = 0;
        for (int k = 0; k < lines.Length; k++) { num += Math.Pow(paired[k] - batched[k], 2); den += Math.Pow(batched[k], 2); }
        Assert.True(Math.Sqrt(num / den) < 1e-6, $"relative error {Math.Sqrt(num / den):E2}");
        Assert.True(lines.Zip(paired).Any(p => Math.Abs(p.First - p.Second) > 1e-2), "the filter should change the lines");
    }

    /// <summary>The formula of the backprojection kernel, voxel by voxel (the managed path before it was reordered).</summary>
    private static float[] Plain(float[] proj, float[] c, float[] s, float[] w, SlabGeometry g)
    {
        var result = new float[g.SlabLength];
        int width = g.Width, thickness = g.Thickness, inRows = g.ProjectionRows;
        float xc = width / 2.0f, zc = thickness / 2.0f;
        for (int rz = 0; rz < g.Rows * thickness; rz++)
        {
            int r = rz / thickness, z = rz % thickness;
            float zz = z - zc + g.ZShift, yy = g.RowOffset + r;
            float depth = yy * g.SinPhi + zz * g.CosPhi;
            float v = yy * g.CosPhi - zz * g.SinPhi - g.InRowOrigin;
            for (int x = 0; x < width; x++)
            {
                float xx = x - xc, sum = 0;
                for (int i = 0; i < g.Views; i++)
                {
                    float u = xx * c[i] + depth * s[i] + xc;
                    sum += w[i] * Sample2(proj, (long)i * inRows * width, width, inRows, u, v);
                }
                result[rz * width + x] = sum;
            }
        }
        return result;
    }

    /// <summary>The two-row sample of the kernel, as the local twin has it.</summary>
    private static float Sample2(float[] data, long offset, int width, int rows, float u, float v) =>
        CpuLocalBackprojector.Sample2(data, offset, width, rows, u, v);
}
