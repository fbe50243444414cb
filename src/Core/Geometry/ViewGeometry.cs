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
/// <para>Optional in-plane distortion of the specimen, IMOD tiltalign's model (its stretch type 1): before the x-axis tilt
/// the specimen is D·X with D = [[(1+s)·cos δ, 0, 0], [(1+s)·sin δ, 1, 0], [0, 0, 1]] — the specimen x axis stretched by
/// 1 + s (<see cref="XStretch"/>, tiltalign's dmag over the magnification) and turned by δ (<see cref="SkewDegrees"/>, tiltalign's
/// skew, the change of angle between the x and y axes); y and z unchanged. The full model is then
/// p = m·R(α)·P·R_y(θ)·R_x(φ)·D·X + d. With s = δ = 0 every member gives exactly the undistorted result.</para>
/// </summary>
public readonly record struct ViewGeometry(
    double TiltDegrees,
    double AxisAngleDegrees,
    double Magnification,
    double ShiftX,
    double ShiftY,
    double XAxisTiltDegrees = 0,
    double XStretch = 0,
    double SkewDegrees = 0)
{
    /// <summary>True when the view has an in-plane distortion (stretch or skew).</summary>
    public bool HasDistortion => XStretch != 0 || SkewDegrees != 0;

    /// <summary>The linear part A (2×3, row-major) of the full projection p = A·X + d.</summary>
    public double[] LinearPart()
    {
        double a = AxisAngleDegrees * Math.PI / 180, t = TiltDegrees * Math.PI / 180, f = XAxisTiltDegrees * Math.PI / 180, d = SkewDegrees * Math.PI / 180;
        double ca = Math.Cos(a), sa = Math.Sin(a), ct = Math.Cos(t), st = Math.Sin(t), cp = Math.Cos(f), sp = Math.Sin(f);
        // G = m·R(α)·[[cosθ, sinθ·sinφ, sinθ·cosφ], [0, cosφ, −sinφ]]
        double g00 = ct, g01 = st * sp, g02 = st * cp, g10 = 0, g11 = cp, g12 = -sp;
        double m = Magnification;
        double r00 = m * (ca * g00 - sa * g10), r01 = m * (ca * g01 - sa * g11), r02 = m * (ca * g02 - sa * g12);
        double r10 = m * (sa * g00 + ca * g10), r11 = m * (sa * g01 + ca * g11), r12 = m * (sa * g02 + ca * g12);
        double dx = (1 + XStretch) * Math.Cos(d), dy = (1 + XStretch) * Math.Sin(d);
        return [r00 * dx + r01 * dy, r01, r02, r10 * dx + r11 * dy, r11, r12];
    }

    /// <summary>
    /// IMOD's aligned frame of a distorted view: the 2×2 F = T·M⁻¹ that takes the projections of the specimen's x and y
    /// axes (the columns M of the linear part) to those of an undistorted view, T = [[cosθ, sinφ·sinθ], [0, cosφ]] —
    /// what tiltalign writes into its .tltxf (row-major F11, F12, F21, F22).
    /// </summary>
    private (double F11, double F12, double F21, double F22) AlignFrame(double[] a)
    {
        double t = TiltDegrees * Math.PI / 180, f = XAxisTiltDegrees * Math.PI / 180;
        double ct = Math.Cos(t), st = Math.Sin(t), cp = Math.Cos(f), sp = Math.Sin(f);
        double det = a[0] * a[4] - a[1] * a[3];
        double i00 = a[4] / det, i01 = -a[1] / det, i10 = -a[3] / det, i11 = a[0] / det; // M⁻¹
        return (ct * i00 + sp * st * i10, ct * i01 + sp * st * i11, cp * i10, cp * i11);
    }

    /// <summary>
    /// IMOD's z factors of the view (tiltalign's OutputZFactorFile, tilt's ZFACTORFILE): with distortion the aligned image
    /// of a point at height z is off the undistorted one by z·(XzFactor, YzFactor); both 0 without distortion.
    /// </summary>
    public (double XzFactor, double YzFactor) ZFactors()
    {
        if (!HasDistortion) return (0, 0);
        var a = LinearPart();
        var (f11, f12, f21, f22) = AlignFrame(a);
        double t = TiltDegrees * Math.PI / 180, f = XAxisTiltDegrees * Math.PI / 180;
        return (f11 * a[2] + f12 * a[5] - Math.Sin(t) * Math.Cos(f), f21 * a[2] + f22 * a[5] + Math.Sin(f));
    }

    /// <summary>Position of X in the aligned frame, relative to the centre (P·R_y(θ)·R_x(φ)·X).</summary>
    public (double U, double V) ProjectAligned(double x, double y, double z)
    {
        if (HasDistortion)
        {
            // The aligned image of a distorted view: F·(A·X) (tiltalign's aligned frame; off the undistorted one by the z factors).
            var a = LinearPart();
            var (f11, f12, f21, f22) = AlignFrame(a);
            double px = a[0] * x + a[1] * y + a[2] * z, py = a[3] * x + a[4] * y + a[5] * z;
            return (f11 * px + f12 * py, f21 * px + f22 * py);
        }
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
    public Xf AlignedToRaw()
    {
        if (!HasDistortion) return Xf.RotationScale(AxisAngleDegrees, Magnification, ShiftX, ShiftY);
        var (f11, f12, f21, f22) = AlignFrame(LinearPart());
        double det = f11 * f22 - f12 * f21;
        return new Xf(f22 / det, -f12 / det, -f21 / det, f11 / det, ShiftX, ShiftY);
    }

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
