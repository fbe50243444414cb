namespace Tomalign.Core.Geometry;

/// <summary>
/// The geometry of one view in Tomalign's projection model (DESIGN.md):
/// <code>
///   p = m · R(α) · P · R_y(θ) · X + d
/// </code>
/// X = (x, y, z) is a landmark in the specimen frame, in unbinned pixels, relative to the
/// volume centre, y along the tilt axis, z along the beam at zero tilt (positive towards the
/// source); R_y(θ) tilts the specimen about y: (x, y, z) → (x·cosθ + z·sinθ, y, −x·sinθ + z·cosθ)
/// (IMOD's convention: aligned x = x·cos t + z·sin t); P drops z (parallel projection) and
/// gives the position in the aligned frame (tilt axis along +Y); R(α) is a counter-clockwise
/// in-plane rotation by the tilt-axis angle α (the axis direction in the raw image, measured
/// counter-clockwise from +Y, as IMOD's "rotation angle" and SerialEM's "tilt axis angle");
/// m is the magnification and d the shift. p is relative to the raw image centre (NX/2, NY/2).
/// An optional x-axis tilt φ (IMOD's single x-axis tilt) is applied before R_y: R_x(φ).
/// </summary>
public readonly record struct ViewGeometry(
    double TiltDegrees,
    double AxisAngleDegrees,
    double Magnification,
    double ShiftX,
    double ShiftY,
    double XAxisTiltDegrees = 0)
{
    /// <summary>Position of X in the aligned frame, relative to the centre (P·R_y(θ)·R_x(φ)·X).</summary>
    public (double U, double V) ProjectAligned(double x, double y, double z)
    {
        double phi = XAxisTiltDegrees * Math.PI / 180.0;
        if (phi != 0)
        {
            double cp = Math.Cos(phi), sp = Math.Sin(phi);
            double y1 = y * cp - z * sp, z1 = y * sp + z * cp;
            y = y1; z = z1;
        }
        double t = TiltDegrees * Math.PI / 180.0;
        return (x * Math.Cos(t) + z * Math.Sin(t), y);
    }

    /// <summary>Position of X in the raw image, relative to its centre (the full model).</summary>
    public (double X, double Y) ProjectPoint(double x, double y, double z)
    {
        var (u, v) = ProjectAligned(x, y, z);
        return AlignedToRaw().ApplyCentred(u, v);
    }

    /// <summary>The transform raw → aligned (the .xf line that aligns the raw view).</summary>
    public Xf RawToAligned() => AlignedToRaw().Inverse();

    /// <summary>The transform aligned → raw: m·R(α)·a + d.</summary>
    public Xf AlignedToRaw() => Xf.RotationScale(AxisAngleDegrees, Magnification, ShiftX, ShiftY);

    /// <summary>
    /// Recovers axis angle, magnification and shift from an .xf line (raw → aligned) that is a
    /// similarity (rotation × isotropic scale + shift); the tilt comes from the angle file.
    /// </summary>
    public static ViewGeometry FromXf(Xf rawToAligned, double tiltDegrees, double xAxisTiltDegrees = 0)
    {
        Xf a = rawToAligned.Inverse();
        // For a similarity, A = s·[[c, −s'],[s', c]]; average the two estimates of each.
        double c = 0.5 * (a.A11 + a.A22), s = 0.5 * (a.A21 - a.A12);
        double mag = Math.Sqrt(c * c + s * s);
        double angle = Math.Atan2(s, c) * 180.0 / Math.PI;
        return new ViewGeometry(tiltDegrees, angle, mag, a.Dx, a.Dy, xAxisTiltDegrees);
    }
}
