namespace Tomalign.Core.Solve;

/// <summary>
/// One measured landmark position: landmark id (any integer, e.g. the contour number), view
/// (0-based) and its position in the (prealigned) stack, in pixels, image coordinates.
/// </summary>
public readonly record struct LandmarkObservation(int Landmark, int View, double X, double Y);

/// <summary>The input of a solve: observations, the stack size and the nominal tilt angles.</summary>
public sealed record SolveInput(
    IReadOnlyList<LandmarkObservation> Observations,
    int Width,
    int Height,
    IReadOnlyList<double> TiltDegrees,
    double AxisAngleDegrees = 0)
{
    public int ViewCount => TiltDegrees.Count;
    public double CenterX => Width / 2.0;
    public double CenterY => Height / 2.0;
}
