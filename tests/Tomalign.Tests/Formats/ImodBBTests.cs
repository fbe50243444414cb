using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Xunit;
using Xunit.Abstractions;

namespace Tomalign.Tests.Formats;

/// <summary>
/// Validates our projection conventions against IMOD's solution of its "BB" tutorial data set
/// (tests/data/imod-BB/README.md): project IMOD's solved 3-D beads (fid.xyz) with IMOD's solved
/// tilt angles (.tlt) and fine transforms (.tltxf) and compare with the measured positions plus
/// tiltalign's residuals (.resid), i.e. with where tiltalign itself projected them.
/// Conventions found: fid.xyz X, Y share the origin of the .resid positions (no 0.5 offset),
/// the centre is (NX/2, NY/2) = (256, 256), Z is relative to the section centre with
/// aligned u = (X − 256)·cos t + Z·sin t, and bead k of fid.xyz is the k-th bead of .resid.
/// </summary>
public class ImodBBTests(ITestOutputHelper output)
{
    private sealed record Errors(double Rms, double Max, double MeanX, double MeanY, int N);

    /// <summary>Projects through our API: ViewGeometry (tilt only) → aligned frame → .tltxf⁻¹ → prealigned.</summary>
    private static Errors Measure(string axis, double originOffset = 0, bool similarityOnly = false)
    {
        double[] tilt = ImodText.ReadAngles(ImodTestData.BB(axis + ".tlt"));
        Xf[] tltxf = ImodText.ReadXf(ImodTestData.BB(axis + ".tltxf"));
        ImodFidXyz fid = ImodFidXyz.Read(ImodTestData.BB(axis + "fid.xyz"));
        ImodResidual[] obs = ImodResid.Read(ImodTestData.BB(axis + ".resid"));
        ImodText.RequireSameCount("{0} tilt angles", tilt.Length, "{0} transforms", tltxf.Length, null);
        double xc = fid.Nx!.Value / 2.0, yc = fid.Ny!.Value / 2.0;
        ViewGeometry[] views = similarityOnly
            ? TiltSeriesGeometry.FromXf(tltxf, tilt)
            : [.. tilt.Select(t => new ViewGeometry(t, 0, 1, 0, 0))];

        double sum2 = 0, max = 0, sx = 0, sy = 0;
        foreach (var o in obs)
        {
            ImodFidPoint b = fid.Points[o.Landmark];
            Assert.Equal(o.Landmark + 1, b.Number);
            double x = b.X - xc + originOffset, y = b.Y - yc + originOffset, z = b.Z;
            double px, py;
            if (similarityOnly)
            {
                (px, py) = views[o.View].ProjectPoint(x, y, z);          // m·R(α)·P·R_y(θ)·X + d
            }
            else
            {
                var (u, v) = views[o.View].ProjectAligned(x, y, z);     // P·R_y(θ)·X
                (px, py) = tltxf[o.View].Inverse().ApplyCentred(u, v); // A⁻¹(aligned − D)
            }
            var (ex, ey) = (px + xc - o.Projected.X, py + yc - o.Projected.Y);
            double d2 = ex * ex + ey * ey;
            sum2 += d2; max = Math.Max(max, Math.Sqrt(d2)); sx += ex; sy += ey;
        }
        return new Errors(Math.Sqrt(sum2 / obs.Length), max, sx / obs.Length, sy / obs.Length, obs.Length);
    }

    [Theory]
    [InlineData("BBa", 0.15, 0.5)]    // measured: RMS 0.115, max 0.409
    [InlineData("BBb", 0.20, 0.7)]    // measured: RMS 0.148, max 0.553
    public void ProjectingImodSolution_ReproducesTiltalignProjections(string axis, double rmsLimit, double maxLimit)
    {
        Errors e = Measure(axis);
        output.WriteLine($"{axis}: n={e.N} RMS={e.Rms:F4} max={e.Max:F4} mean=({e.MeanX:F4}, {e.MeanY:F4}) px");
        Assert.Equal(1403, e.N);
        Assert.True(e.Rms < rmsLimit, $"RMS {e.Rms}");
        Assert.True(e.Max < maxLimit, $"max {e.Max}");
        // The origin is exact: no systematic offset.
        Assert.InRange(e.MeanX, -0.01, 0.01);
        Assert.InRange(e.MeanY, -0.01, 0.01);
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(-0.5)]
    public void HalfPixelOriginOffset_IsClearlyWorse(double offset)
    {
        Errors e = Measure("BBa", offset);
        output.WriteLine($"offset {offset}: RMS={e.Rms:F4} max={e.Max:F4}");
        Assert.True(e.Rms > 0.5, $"RMS {e.Rms}");
    }

    [Fact]
    public void SimilarityPartOfTltxf_ThroughViewGeometry_IsClose()
    {
        // Through ViewGeometry.FromXf + ProjectPoint: drops IMOD's stretch/skew part of each .tltxf,
        // so it is worse than the full inverse; it still checks the sign of α, mag and shift end to end.
        Errors e = Measure("BBa", similarityOnly: true);
        output.WriteLine($"BBa similarity only: RMS={e.Rms:F4} max={e.Max:F4} mean=({e.MeanX:F4}, {e.MeanY:F4})");
        // measured: RMS 0.553, max 1.350
        Assert.True(e.Rms < 0.8, $"RMS {e.Rms}");
        Assert.True(e.Max < 2.0, $"max {e.Max}");
    }
}
