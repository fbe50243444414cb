namespace Tomalign.Core.Simulation;

/// <summary>
/// A known local warp of the specimen under the beam (<see cref="SimulationOptions.LocalWarpPixels"/>): the projection of a
/// specimen point (x, y) in view i is moved in the raw image by
/// <code>  A·gᵢ·((x² − y²), 2·x·y) / R²,  R = half the smaller image side,  gᵢ = θᵢ / θ_max  </code>
/// (θᵢ the nominal tilt, θ_max the largest |nominal tilt| of the series' range): zero at zero tilt and at the centre, growing with tilt and with the distance from the centre,
/// up to 2·A at the corners of a square field at the largest tilt. Its gradient is a rotation and a scale that change across
/// the field (the map z ↦ z²), so no single set of view parameters fits it and local areas do.
/// Deterministic (draws no random numbers).
/// </summary>
public static class LocalWarp
{
    /// <summary>The warp's gain (gᵢ above) of a view of nominal tilt <paramref name="nominalTilt"/> in a series simulated with <paramref name="o"/>.</summary>
    public static double Gain(SimulationOptions o, double nominalTilt)
    {
        ArgumentNullException.ThrowIfNull(o);
        double thetaMax = Math.Max(Math.Abs(o.TiltMin), Math.Abs(o.TiltMax));
        return thetaMax > 0 ? nominalTilt / thetaMax : 0;
    }

    /// <summary>The displacement (raw image pixels) of the projection of specimen point (x, y) in a view of gain <paramref name="gain"/>.</summary>
    public static (double Dx, double Dy) Displacement(double amplitude, double gain, double x, double y, int nx, int ny)
    {
        double r = 0.5 * Math.Min(nx, ny);
        double a = amplitude * gain / (r * r);
        return (a * (x * x - y * y), a * 2 * x * y);
    }
}
