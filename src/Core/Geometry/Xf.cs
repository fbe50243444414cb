namespace Tomalign.Core.Geometry;

/// <summary>
/// An IMOD 2×3 image transform, one line of an .xf/.prexf/.prexg/.tltxf file:
/// <c>A11 A12 A21 A22 DX DY</c>. It maps a point about the image centre (Xc, Yc) = (NX/2, NY/2):
/// <code>
///   X' = A11·(X−Xc) + A12·(Y−Yc) + DX + Xc
///   Y' = A21·(X−Xc) + A22·(Y−Yc) + DY + Yc
/// </code>
/// As in IMOD, a transform in an .xf file maps a point of the input (raw) image to where it
/// lands in the output (aligned) image; newstack samples the input at the inverse.
/// </summary>
public readonly record struct Xf(double A11, double A12, double A21, double A22, double Dx, double Dy)
{
    public static Xf Identity => new(1, 0, 0, 1, 0, 0);

    /// <summary>Applies the transform to a point given relative to the centre (returns relative to the centre).</summary>
    public (double X, double Y) ApplyCentred(double x, double y) =>
        (A11 * x + A12 * y + Dx, A21 * x + A22 * y + Dy);

    /// <summary>Applies the transform to a point in image coordinates, about centre (xc, yc).</summary>
    public (double X, double Y) Apply(double x, double y, double xc, double yc)
    {
        var (u, v) = ApplyCentred(x - xc, y - yc);
        return (u + xc, v + yc);
    }

    public double Determinant => A11 * A22 - A12 * A21;

    /// <summary>
    /// The same mapping of pixels written about a centre moved by (<paramref name="dxc"/>, <paramref name="dyc"/>):
    /// DX' = DX + (A − I)·(dxc, dyc). IMOD's newstack and tilt put the centre half a pixel below Tomalign's pixel NX/2 (0-based
    /// column NX/2 − 1/2: cubinterp's xcen = nx/2. + 0.5, 1-based), so an .xf for IMOD's programs is <c>Recentred(−0.5, −0.5)</c>.
    /// </summary>
    public Xf Recentred(double dxc, double dyc) =>
        this with { Dx = Dx + (A11 - 1) * dxc + A12 * dyc, Dy = Dy + A21 * dxc + (A22 - 1) * dyc };

    /// <summary>The inverse transform (maps output back to input), about the same centre.</summary>
    public Xf Inverse()
    {
        double det = Determinant;
        if (Math.Abs(det) < 1e-300) throw new InvalidOperationException("transform is singular and has no inverse");
        double b11 = A22 / det, b12 = -A12 / det, b21 = -A21 / det, b22 = A11 / det;
        return new Xf(b11, b12, b21, b22, -(b11 * Dx + b12 * Dy), -(b21 * Dx + b22 * Dy));
    }

    /// <summary>
    /// IMOD's xfproduct: the transform that applies <paramref name="first"/> and then
    /// <paramref name="second"/> (both about the same centre).
    /// </summary>
    public static Xf Product(Xf first, Xf second) => new(
        second.A11 * first.A11 + second.A12 * first.A21,
        second.A11 * first.A12 + second.A12 * first.A22,
        second.A21 * first.A11 + second.A22 * first.A21,
        second.A21 * first.A12 + second.A22 * first.A22,
        second.A11 * first.Dx + second.A12 * first.Dy + second.Dx,
        second.A21 * first.Dx + second.A22 * first.Dy + second.Dy);

    /// <summary>This transform followed by <paramref name="next"/>.</summary>
    public Xf Then(Xf next) => Product(this, next);

    /// <summary>A rotation by <paramref name="degrees"/> counter-clockwise, scaled by <paramref name="scale"/>, then shifted.</summary>
    public static Xf RotationScale(double degrees, double scale, double dx = 0, double dy = 0)
    {
        double r = degrees * Math.PI / 180.0, c = Math.Cos(r) * scale, s = Math.Sin(r) * scale;
        return new Xf(c, -s, s, c, dx, dy);
    }

    /// <summary>True when every coefficient differs from <paramref name="other"/> by at most <paramref name="tol"/>.</summary>
    public bool ApproximatelyEquals(Xf other, double tol) =>
        Math.Abs(A11 - other.A11) <= tol && Math.Abs(A12 - other.A12) <= tol &&
        Math.Abs(A21 - other.A21) <= tol && Math.Abs(A22 - other.A22) <= tol &&
        Math.Abs(Dx - other.Dx) <= tol && Math.Abs(Dy - other.Dy) <= tol;
}
