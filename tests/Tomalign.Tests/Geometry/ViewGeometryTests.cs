using Tomalign.Core;
using Tomalign.Core.Geometry;
using Xunit;

namespace Tomalign.Tests.Geometry;

public class ViewGeometryTests
{
    [Fact]
    public void Tilt60_PointOnX_ProjectsToHalf()
    {
        // u = x·cos60° + z·sin60° = 10·0.5 = 5
        var (u, v) = new ViewGeometry(60, 0, 1, 0, 0).ProjectAligned(10, 0, 0);
        Assert.Equal(5, u, 12); Assert.Equal(0, v, 12);
    }

    [Fact]
    public void Tilt30_PointOnZ_ProjectsToHalf()
    {
        // u = z·sin30° = 5; positive z moves to +u at positive tilt (IMOD's convention)
        var (u, _) = new ViewGeometry(30, 0, 1, 0, 0).ProjectAligned(0, 0, 10);
        Assert.Equal(5, u, 12);
        Assert.Equal(-5, new ViewGeometry(-30, 0, 1, 0, 0).ProjectAligned(0, 0, 10).U, 12);
    }

    [Fact]
    public void AxisAngle90_MapsAlignedPlusYToRawMinusX()
    {
        var g = new ViewGeometry(0, 90, 1, 0, 0);
        var (x, y) = g.ProjectPoint(0, 10, 0);
        Assert.Equal(-10, x, 12); Assert.Equal(0, y, 12);
        // and the .xf line (raw → aligned) takes it back
        var (u, v) = g.RawToAligned().ApplyCentred(x, y);
        Assert.Equal(0, u, 12); Assert.Equal(10, v, 12);
    }

    [Fact]
    public void Magnification2_Doubles_ThenShift()
    {
        var (x, y) = new ViewGeometry(0, 0, 2, 3, -4).ProjectPoint(5, 7, 100);
        Assert.Equal(13, x, 12); Assert.Equal(10, y, 12);
    }

    [Fact]
    public void FromXf_OfRawToAligned_RoundTripsParameters()
    {
        var g = new ViewGeometry(23.5, -12.5, 1.03, 5.25, -7.5, 0.4);
        var back = ViewGeometry.FromXf(g.RawToAligned(), g.TiltDegrees, g.XAxisTiltDegrees);
        Assert.Equal(g.TiltDegrees, back.TiltDegrees);
        Assert.Equal(g.AxisAngleDegrees, back.AxisAngleDegrees, 10);
        Assert.Equal(g.Magnification, back.Magnification, 12);
        Assert.Equal(g.ShiftX, back.ShiftX, 10);
        Assert.Equal(g.ShiftY, back.ShiftY, 10);
        Assert.Equal(g.XAxisTiltDegrees, back.XAxisTiltDegrees);
    }

    [Fact]
    public void TiltSeries_ToXfAndBack_RoundTrips()
    {
        ViewGeometry[] views = [new(-60, 84.2, 1.0, 1, 2), new(0, 85, 0.99, -3, 0), new(60, 85.7, 1.01, 0, 4)];
        Xf[] xf = TiltSeriesGeometry.ToXf(views);
        ViewGeometry[] back = TiltSeriesGeometry.FromXf(xf, [.. views.Select(v => v.TiltDegrees)]);
        for (int i = 0; i < views.Length; i++)
        {
            Assert.Equal(views[i].AxisAngleDegrees, back[i].AxisAngleDegrees, 9);
            Assert.Equal(views[i].Magnification, back[i].Magnification, 12);
            Assert.Equal(views[i].ShiftX, back[i].ShiftX, 9);
            Assert.Equal(views[i].ShiftY, back[i].ShiftY, 9);
        }
    }

    [Fact]
    public void TiltSeries_FromXf_CountMismatchNamesBothFiles()
    {
        var e = Assert.Throws<TomalignInputException>(() =>
            TiltSeriesGeometry.FromXf([Xf.Identity, Xf.Identity], [0.0], null, "a.xf", "a.tlt"));
        Assert.Contains("a.tlt has 1 angles", e.Message);
        Assert.Contains("a.xf has 2 transforms", e.Message);
        Assert.Equal("a.tlt", e.File);
    }
}
