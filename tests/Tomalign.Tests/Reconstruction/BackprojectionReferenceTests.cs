using Tomalign.Core.Backend;
using Tomalign.Cpu;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Reconstruction;

/// <summary>
/// The managed backprojection against the geometry of <see cref="SlabGeometry"/> evaluated here in double precision,
/// written from its definition rather than from the kernel's code: voxel (x, z) of row r at X = x − W/2,
/// Z = z − T/2 + ZShift, Y = RowOffset + r sees view i at u = X·cos θᵢ + (Y·sin φ + Z·cos φ)·sin θᵢ + W/2 in the
/// projection row v = Y·cos φ − Z·sin φ − InRowOrigin, sampled bilinearly with neighbours outside the projection
/// counting 0, and weighted by wᵢ. The cases reach every path of the managed loops: whole rows (v integral), rows
/// half outside above and below (x-axis tilt), views beyond ±90° (cos θ ≤ 0, where the fast range is empty), and
/// lines wide enough for the eight-voxel paths.
/// </summary>
[Trait("Category", "Correctness")]
public sealed class BackprojectionReferenceTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(1, 45, 3, 9, 13, 0.0, 0f, 0f, 70.0)]      // whole rows, tilts within ±70°
    [InlineData(2, 45, 4, 9, 13, 4.0, -1.5f, -5.25f, 70.0)] // x-axis tilt: fractional rows, some above and below the rows held
    [InlineData(3, 40, 3, 7, 11, 0.0, 0f, 0f, 180.0)]     // views anywhere on the circle: cos θ ≤ 0 too
    [InlineData(4, 64, 2, 5, 9, -6.0, 1f, 0.5f, 180.0)]    // both
    public void MatchesTheSlabGeometryInDouble(int seed, int width, int rows, int views, int thickness, double phiDegrees,
        float rowOffset, float inOrigin, double tiltRange)
    {
        var rng = new Random(seed);
        double phi = phiDegrees * Math.PI / 180;
        int inRows = phiDegrees == 0 ? rows : rows + 3;
        var g = new SlabGeometry(width, rows, views, thickness, (float)(rng.NextDouble() * 4 - 2), inRows,
            (float)Math.Cos(phi), (float)Math.Sin(phi), rowOffset, inOrigin);
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var tilts = Enumerable.Range(0, views).Select(i => i == 0 ? 0 : (rng.NextDouble() - 0.5) * 2 * tiltRange * Math.PI / 180).ToArray();
        var cos = tilts.Select(t => (float)Math.Cos(t)).ToArray();
        var sin = tilts.Select(t => (float)Math.Sin(t)).ToArray();
        if (tiltRange > 90) { cos[1] = 0; sin[1] = 1; }   // exactly edge-on
        var w = Enumerable.Range(0, views).Select(_ => (float)(rng.NextDouble() + 0.5)).ToArray();

        var slab = new float[g.SlabLength];
        Array.Fill(slab, float.NaN);
        new CpuBackprojector().Backproject(proj, cos, sin, w, g, slab);

        double worst = 0, scale = 0;
        for (int r = 0; r < rows; r++)
            for (int z = 0; z < thickness; z++)
                for (int x = 0; x < width; x++)
                {
                    double expected = Voxel(proj, cos, sin, w, g, x, r, z);
                    float got = slab[((long)r * thickness + z) * width + x];
                    Assert.True(float.IsFinite(got), $"voxel x {x}, row {r}, z {z} not written");
                    worst = Math.Max(worst, Math.Abs(got - expected));
                    scale = Math.Max(scale, Math.Abs(expected));
                }
        output.WriteLine($"largest difference {worst:E2} against values up to {scale:F3}");
        Assert.True(scale > 0.5);
        Assert.True(worst <= 5e-6 * scale * views, $"largest difference {worst:E2} (values up to {scale:F3})");
    }

    /// <summary>FilterBackproject is the row filter followed by the backprojection, bit for bit.</summary>
    [Fact]
    public void FilterBackprojectIsTheRowFilterThenTheBackprojection()
    {
        var rng = new Random(8);
        var g = new SlabGeometry(30, 3, 5, 7, 0.5f);
        int pad = 64;
        var proj = Enumerable.Range(0, (int)g.ProjectionLength).Select(_ => (float)rng.NextDouble()).ToArray();
        var filter = Enumerable.Range(0, pad / 2 + 1).Select(k => (float)(k + 1.0) / pad).ToArray();
        var tilts = new[] { -50.0, -20, 0, 25, 55 }.Select(t => t * Math.PI / 180).ToArray();
        var cos = tilts.Select(t => (float)Math.Cos(t)).ToArray();
        var sin = tilts.Select(t => (float)Math.Sin(t)).ToArray();
        var w = new float[] { 0.5f, 0.6f, 0.55f, 0.7f, 0.4f };
        var bp = new CpuBackprojector();
        var both = new float[g.SlabLength];
        Array.Fill(both, float.NaN);
        bp.FilterBackproject(proj, filter, pad, cos, sin, w, g, both);
        var filtered = new float[proj.Length];
        bp.FilterRows(proj, g.Views * g.Rows, g.Width, filter, pad, filtered);
        var separate = new float[g.SlabLength];
        bp.Backproject(filtered, cos, sin, w, g, separate);
        Assert.Equal(separate, both);
        Assert.NotEqual(filtered, proj);
    }

    /// <summary>The definition, in double.</summary>
    private static double Voxel(float[] proj, float[] c, float[] s, float[] w, SlabGeometry g, int x, int r, int z)
    {
        double bigX = x - g.Width / 2.0, bigZ = z - g.Thickness / 2.0 + g.ZShift, bigY = g.RowOffset + r;
        double depth = bigY * g.SinPhi + bigZ * g.CosPhi;
        double v = bigY * g.CosPhi - bigZ * g.SinPhi - g.InRowOrigin;
        double sum = 0;
        for (int i = 0; i < g.Views; i++)
        {
            double u = bigX * c[i] + depth * s[i] + g.Width / 2.0;
            sum += w[i] * Bilinear(proj, i, g, u, v);
        }
        return sum;
    }

    private static double Bilinear(float[] proj, int view, SlabGeometry g, double u, double v)
    {
        int u0 = (int)Math.Floor(u), v0 = (int)Math.Floor(v);
        double fu = u - u0, fv = v - v0;
        double At(int uu, int vv) => uu < 0 || uu >= g.Width || vv < 0 || vv >= g.ProjectionRows ? 0
            : proj[((long)view * g.ProjectionRows + vv) * g.Width + uu];
        return (1 - fv) * ((1 - fu) * At(u0, v0) + fu * At(u0 + 1, v0)) + fv * ((1 - fu) * At(u0, v0 + 1) + fu * At(u0 + 1, v0 + 1));
    }
}
