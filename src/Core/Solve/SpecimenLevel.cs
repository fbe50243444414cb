namespace Tomalign.Core.Solve;

/// <summary>
/// How far the specimen, as the solved landmarks show it, is tilted in the tomogram's frame, and
/// the corrections that make it level (tiltalign's "angle offset" and "x-axis tilt" for a flat
/// specimen; etomo's tomogram positioning). A least-squares plane z = a·x + b·y + c through the
/// landmarks that are not flagged: a constant offset Δ = −atan(a) added to every tilt angle
/// rotates the reconstruction about Y so that the plane has no slope in x (a global tilt offset
/// is a gauge freedom: the aligned images do not change); the remaining slope in y, after that
/// rotation, is the x-axis tilt ψ = atan(b′) that would level it about X.
/// </summary>
public readonly record struct SpecimenLevel(double AngleOffsetDegrees, double XAxisTiltDegrees, int Landmarks)
{
    /// <summary>The level of the landmarks' plane; zeros when fewer than three usable landmarks (or collinear ones).</summary>
    public static SpecimenLevel Fit(IReadOnlyList<SolvedLandmark> landmarks)
    {
        ArgumentNullException.ThrowIfNull(landmarks);
        var use = landmarks.Where(l => !l.Flagged && double.IsFinite(l.X) && double.IsFinite(l.Y) && double.IsFinite(l.Z)).ToArray();
        if (use.Length < 3) return new SpecimenLevel(0, 0, use.Length);
        var plane = Plane(use.Select(l => (l.X, l.Y, l.Z)).ToArray());
        if (plane is null) return new SpecimenLevel(0, 0, use.Length);
        double delta = -Math.Atan(plane.Value.A);
        var rotated = use.Select(l => RotateY(l.X, l.Y, l.Z, delta)).ToArray();
        var second = Plane(rotated);
        double psi = second is null ? 0 : Math.Atan(second.Value.B);
        return new SpecimenLevel(delta * 180 / Math.PI, psi * 180 / Math.PI, use.Length);
    }

    /// <summary>
    /// The solve with <paramref name="offsetDegrees"/> added to every tilt angle and the landmarks
    /// rotated with the frame (x′ = x·cosΔ − z·sinΔ, z′ = x·sinΔ + z·cosΔ): the same projections.
    /// </summary>
    public static SolveResult WithTiltOffset(SolveResult result, double offsetDegrees)
    {
        ArgumentNullException.ThrowIfNull(result);
        double d = offsetDegrees * Math.PI / 180;
        // With a (fixed, common) x-axis tilt φ the model is R_y(θ)·R_x(φ)·X, so X′ = R_x(−φ)·R_y′(Δ)·R_x(φ)·X.
        double phi = result.Views.Length > 0 ? result.Views[0].XAxisTiltDegrees * Math.PI / 180 : 0;
        double cp = Math.Cos(phi), sp = Math.Sin(phi);
        return result.With(
            result.Views.Select(v => v with { TiltDegrees = v.TiltDegrees + offsetDegrees }).ToArray(),
            result.Landmarks.Select(l =>
            {
                double y1 = l.Y * cp - l.Z * sp, z1 = l.Y * sp + l.Z * cp;
                var (x2, y2, z2) = RotateY(l.X, y1, z1, d);
                return l with { X = x2, Y = y2 * cp + z2 * sp, Z = -y2 * sp + z2 * cp };
            }).ToArray());
    }

    private static (double X, double Y, double Z) RotateY(double x, double y, double z, double d) =>
        (x * Math.Cos(d) - z * Math.Sin(d), y, x * Math.Sin(d) + z * Math.Cos(d));

    private static (double A, double B, double C)? Plane(IReadOnlyList<(double X, double Y, double Z)> p)
    {
        // Normal equations of z = a·x + b·y + c, about the centroid.
        double mx = p.Average(q => q.X), my = p.Average(q => q.Y), mz = p.Average(q => q.Z);
        double sxx = 0, sxy = 0, syy = 0, sxz = 0, syz = 0;
        foreach (var (x0, y0, z0) in p)
        {
            double x = x0 - mx, y = y0 - my, z = z0 - mz;
            sxx += x * x; sxy += x * y; syy += y * y; sxz += x * z; syz += y * z;
        }
        double det = sxx * syy - sxy * sxy;
        if (!(Math.Abs(det) > 1e-9 * Math.Max(1, sxx * syy))) return null;
        double a = (sxz * syy - syz * sxy) / det, b = (syz * sxx - sxz * sxy) / det;
        return (a, b, mz - a * mx - b * my);
    }
}
