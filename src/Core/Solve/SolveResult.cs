using Tomalign.Core.Geometry;

namespace Tomalign.Core.Solve;

public enum SolveStopReason
{
    /// <summary>An accepted step changed the cost by less than the relative tolerance.</summary>
    Converged,
    /// <summary>The residual is zero to rounding.</summary>
    ExactFit,
    /// <summary>No step lowered the cost even at the largest damping (a minimum to rounding).</summary>
    NoFurtherDecrease,
    MaxIterations,
}

/// <summary>Mean, SD and RMS of residual magnitudes |r| = sqrt(rx² + ry²), in pixels.</summary>
public readonly record struct ResidualStats(int Count, double Mean, double Sd, double Rms)
{
    public static ResidualStats Of(IEnumerable<double> magnitudes)
    {
        int n = 0; double s = 0, s2 = 0;
        foreach (double m in magnitudes) { n++; s += m; s2 += m * m; }
        if (n == 0) return new ResidualStats(0, double.NaN, double.NaN, double.NaN);
        double mean = s / n;
        double sd = n > 1 ? Math.Sqrt(Math.Max(0, (s2 - n * mean * mean) / (n - 1))) : 0;
        return new ResidualStats(n, mean, sd, Math.Sqrt(s2 / n));
    }
}

/// <summary>One observation with its residual (projected − measured) and final robust weight.</summary>
public readonly record struct PointResidual(int Landmark, int View, double X, double Y, double Dx, double Dy, double Weight, bool Flagged)
{
    public double Magnitude => Math.Sqrt(Dx * Dx + Dy * Dy);
}

/// <summary>A solved landmark: id, position relative to the volume centre (pixels), and its residual summary.</summary>
public readonly record struct SolvedLandmark(int Id, double X, double Y, double Z, ResidualStats Residual, bool Flagged);

public sealed class SolveResult
{
    /// <summary>The options the solve used, with automatic variables resolved.</summary>
    public SolveOptions? Options { get; init; }
    public required SolveStopReason StopReason { get; init; }
    /// <summary>LM iterations in all stages and robust rounds.</summary>
    public required int Iterations { get; init; }
    public required int RobustRounds { get; init; }
    public required ViewGeometry[] Views { get; init; }
    public required SolvedLandmark[] Landmarks { get; init; }
    public required PointResidual[] Points { get; init; }
    public required ResidualStats Overall { get; init; }
    /// <summary>Per view (index = view); Count 0 for views without observations.</summary>
    public required ResidualStats[] PerView { get; init; }
    /// <summary>sqrt(Σ(rx² + ry²) / (2·observations)): the per-axis RMS, to compare with a per-axis noise σ.</summary>
    public required double RmsPerAxis { get; init; }
    /// <summary>Number of free parameters after the gauge (view variables + 3 per landmark − 3).</summary>
    public required int Unknowns { get; init; }
    public required int ViewVariables { get; init; }
    public required string Gauge { get; init; }
    public required IReadOnlyList<string> Notes { get; init; }
    public required IReadOnlyList<int> DroppedLandmarks { get; init; }
    public required int ReferenceView { get; init; }
    /// <summary>How the tilts were tied to the nominal ones, when a tilt prior was asked for; null otherwise.</summary>
    public TiltChoice? TiltChoice { get; init; }
    /// <summary>How the tilt axis was tied to the given one, when <see cref="SolveOptions.AxisHold"/> is not free; null otherwise.</summary>
    public AxisChoice? AxisChoice { get; init; }
    public int ObservationCount => Points.Length;
    public int FlaggedPointCount => Points.Count(p => p.Flagged);

    /// <summary>A copy with other view geometries and landmark positions (a change of frame; residuals unchanged).</summary>
    public SolveResult With(ViewGeometry[] views, SolvedLandmark[] landmarks, IReadOnlyList<string>? notes = null) => With(views, landmarks, notes, AxisChoice);

    /// <summary>A copy with other view geometries, landmark positions and axis choice.</summary>
    public SolveResult With(ViewGeometry[] views, SolvedLandmark[] landmarks, IReadOnlyList<string>? notes, AxisChoice? axisChoice) => new()
    {
        Options = Options, StopReason = StopReason, Iterations = Iterations, RobustRounds = RobustRounds,
        Views = views, Landmarks = landmarks, Points = Points, Overall = Overall, PerView = PerView, RmsPerAxis = RmsPerAxis,
        Unknowns = Unknowns, ViewVariables = ViewVariables, Gauge = Gauge, Notes = notes ?? Notes, DroppedLandmarks = DroppedLandmarks,
        ReferenceView = ReferenceView, TiltChoice = TiltChoice, AxisChoice = axisChoice,
    };
}

/// <summary>
/// How the tilts of a solve were tied to the nominal angles (<see cref="SolveOptions.TiltPrior"/>), with the numbers the
/// choice rests on. Residuals are per-axis RMS (px) with the final robust weights; deviations are the RMS and largest
/// |solved − nominal| of the tilt angles after removing their mean (a common offset), in degrees.
/// </summary>
/// <param name="Chosen">free (tilts as <see cref="SolveOptions.Tilt"/> makes them), prior (free with the Gaussian prior), or fixed (nominal).</param>
/// <param name="Reason">Why, in words.</param>
public sealed record TiltChoice(string Chosen, string Reason, double FixedResidual, double FreeResidual, double FreeDeviationDegrees,
    double FreeMaxDeviationDegrees, double ChosenDeviationDegrees, double? PriorSdDegrees, double? PriorWeight);

/// <summary>
/// How the tilt axis of a solve (the mean of the views' in-plane rotations) was tied to the given one
/// (<see cref="SolveOptions.AxisHold"/>), with the numbers the choice rests on: the per-axis RMS residuals (px) of the
/// solve with the axis free and held, over the observations both robust fits trust, and the two axes (degrees).
/// </summary>
/// <param name="Chosen">free or held.</param>
public sealed record AxisChoice(string Chosen, string Reason, double GivenAxisDegrees, double FreeAxisDegrees, double FreeResidual, double HeldResidual);
