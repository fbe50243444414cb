using Tomalign.Core.Formats;
using Tomalign.Core.Geometry;
using Xunit;

namespace Tomalign.Tests.Geometry;

public class XfTests
{
    private static readonly Xf Rot90 = Xf.RotationScale(90, 1);          // (0, −1, 1, 0, 0, 0): (x, y) → (−y, x)
    private static readonly Xf Shift10 = new(1, 0, 0, 1, 10, 0);         // (x, y) → (x + 10, y)

    private static void Near(Xf expected, Xf actual, double tol = 1e-12) =>
        Assert.True(expected.ApproximatelyEquals(actual, tol), $"expected {expected}, got {actual}");

    [Fact]
    public void Product_RotateThenShift_HandChecked()
    {
        // By hand, Product(a, b) = a then b:
        //   rotate 90° then shift: (1, 0) → (0, 1) → (10, 1).  A = I·R = R; D = I·0 + (10, 0) = (10, 0).
        //   shift then rotate 90°: (1, 0) → (11, 0) → (0, 11). A = R·I = R; D = R·(10, 0) + 0 = (0, 10).
        Xf rs = Xf.Product(Rot90, Shift10);
        Xf sr = Xf.Product(Shift10, Rot90);
        Near(new Xf(0, -1, 1, 0, 10, 0), rs);
        Near(new Xf(0, -1, 1, 0, 0, 10), sr);
        Assert.False(rs.ApproximatelyEquals(sr, 1e-6));
        var (x, y) = rs.ApplyCentred(1, 0);
        Assert.Equal(10, x, 12); Assert.Equal(1, y, 12);
        (x, y) = sr.ApplyCentred(1, 0);
        Assert.Equal(0, x, 12); Assert.Equal(11, y, 12);
        Near(rs, Rot90.Then(Shift10));
    }

    [Fact]
    public void Apply_IsAboutTheGivenCentre()
    {
        // rotation 90° about (256, 256): (266, 256) is 10 px right of the centre → 10 px above it.
        var (x, y) = Rot90.Apply(266, 256, 256, 256);
        Assert.Equal(256, x, 12); Assert.Equal(266, y, 12);
    }

    [Fact]
    public void Inverse_ComposedWithTransform_IsIdentity()
    {
        var t = new Xf(0.98, -0.19, 0.186, 0.982, 8.9, -3.2);
        Near(Xf.Identity, Xf.Product(t, t.Inverse()), 1e-12);
        Near(Xf.Identity, Xf.Product(t.Inverse(), t), 1e-12);
        var (x, y) = t.Inverse().Apply(t.Apply(100, 40, 256, 256).X, t.Apply(100, 40, 256, 256).Y, 256, 256);
        Assert.Equal(100, x, 10); Assert.Equal(40, y, 10);
    }

    [Fact]
    public void XfToXg_ShiftChain_HandChecked()
    {
        // f[i] maps view i onto view i−1: view 1 sits 1 px left of view 0, and so on.
        Xf[] f = [Xf.Identity, S(1, 0), S(2, 0), S(0, 3)];
        // Reference 0: shifts accumulate, g = 0, (1,0), (3,0), (3,3).
        Xf[] g0 = ImodText.XfToXg(f, 0);
        Near(S(0, 0), g0[0]); Near(S(1, 0), g0[1]); Near(S(3, 0), g0[2]); Near(S(3, 3), g0[3]);
        // Reference 1: the same minus g0[1]: (−1,0), 0, (2,0), (2,3).
        Xf[] g1 = ImodText.XfToXg(f, 1);
        Assert.Equal(Xf.Identity, g1[1]);
        Near(S(-1, 0), g1[0]); Near(S(2, 0), g1[2]); Near(S(2, 3), g1[3]);
        // f[0] is not used.
        Xf[] fOther = [S(50, 50), f[1], f[2], f[3]];
        Assert.Equal(g1, ImodText.XfToXg(fOther, 1));
    }

    [Fact]
    public void XfToXg_WithRotation_HandChecked()
    {
        Xf[] f = [Xf.Identity, Rot90, S(1, 0)];
        // Reference 0: g1 = R90; g2 = shift (1,0) then R90: A = R90, D = R90·(1,0) = (0,1).
        Xf[] g0 = ImodText.XfToXg(f, 0);
        Near(Xf.Identity, g0[0]); Near(Rot90, g0[1]); Near(new Xf(0, -1, 1, 0, 0, 1), g0[2]);
        // Reference 2: g1 = f2⁻¹ = shift (−1, 0); g0 = R90⁻¹ then shift(−1,0) = (0, 1, −1, 0, −1, 0).
        Xf[] g2 = ImodText.XfToXg(f, 2);
        Assert.Equal(Xf.Identity, g2[2]);
        Near(S(-1, 0), g2[1]); Near(new Xf(0, 1, -1, 0, -1, 0), g2[0]);
        // IMOD's route: cumulative G(i) to view 0, then times G(ref)⁻¹.
        for (int i = 0; i < 3; i++) Near(Xf.Product(g0[i], g0[2].Inverse()), g2[i], 1e-12);
    }

    [Fact]
    public void NearestZeroTilt_PicksSmallestMagnitude()
    {
        Assert.Equal(2, ImodText.NearestZeroTilt([-6, -3, 1.5, -1.5, 4]));
        Assert.Equal(0, ImodText.NearestZeroTilt([0.0]));
        Assert.Equal(32, ImodText.NearestZeroTilt(ImodText.ReadAngles(Tomalign.Tests.Formats.ImodTestData.BB("BBa.tlt"))));
    }

    private static Xf S(double dx, double dy) => new(1, 0, 0, 1, dx, dy);
}
