using Tomalign.Core.Geometry;
using Tomalign.Core.Solve;

namespace Tomalign.Tests.Solve;

/// <summary>A landmark set with known geometry: exact projections through ViewGeometry.ProjectPoint, plus noise.</summary>
internal sealed class SimulatedLandmarks
{
    public required ViewGeometry[] Truth { get; init; }
    public required double[][] Points { get; init; } // landmark positions, centroid at the origin
    public required double[] NominalTilts { get; init; }
    public required List<LandmarkObservation> Observations { get; init; }
    public required HashSet<(int Landmark, int View)> Displaced { get; init; }
    public int Width { get; init; } = 1024;
    public int Height { get; init; } = 1024;
    public double NominalAxis { get; init; }
    public int ReferenceView { get; init; }

    public SolveInput Input() => new(Observations, Width, Height, NominalTilts, NominalAxis);

    public static SimulatedLandmarks Create(int seed, int landmarks = 30, int views = 61, double sigma = 0.3,
        double missingFraction = 0.2, double displacedFraction = 0, double maxTilt = 60, bool perturbTilts = true,
        double thickness = 0, bool viewErrors = true)
    {
        var rng = new Random(seed);
        double Gauss() => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());
        double step = 2 * maxTilt / (views - 1);
        var nominal = Enumerable.Range(0, views).Select(i => -maxTilt + i * step).ToArray();
        int reference = Enumerable.Range(0, views).MinBy(i => Math.Abs(nominal[i]));
        const double axis = 8.0;
        var truth = new ViewGeometry[views];
        for (int i = 0; i < views; i++)
        {
            bool r = i == reference;
            double tilt = nominal[i] + (r || !perturbTilts ? 0 : 0.3 * Gauss());
            double rot = axis + 0.3 * Math.Sin(i / 9.0) + 0.1 * Gauss();
            double mag = r ? 1 : 1 + 0.01 * Math.Sin(i / 13.0) + 0.002 * Gauss();
            // Without view errors: nominal tilts and unit magnification, which every variable mode models exactly.
            if (!viewErrors) { tilt = nominal[i]; mag = 1; }
            truth[i] = new ViewGeometry(tilt, rot, mag, 4 * Gauss(), 4 * Gauss());
        }
        var pts = new double[landmarks][];
        for (int j = 0; j < landmarks; j++)
            pts[j] = [rng.NextDouble() * 800 - 400, rng.NextDouble() * 800 - 400,
                thickness > 0 ? (j % 2 == 0 ? 0.5 : -0.5) * thickness + 10 * Gauss() : rng.NextDouble() * 200 - 100];
        for (int c = 0; c < 3; c++)
        {
            double mean = pts.Average(p => p[c]);
            foreach (var p in pts) p[c] -= mean;
        }
        var obs = new List<LandmarkObservation>();
        var displaced = new HashSet<(int, int)>();
        for (int j = 0; j < landmarks; j++)
            for (int i = 0; i < views; i++)
            {
                // More missing at high tilt: p = f·(0.5 + |θ|/θmax), mean f over a uniform tilt range.
                double pMissing = missingFraction * (0.5 + Math.Abs(nominal[i]) / maxTilt);
                if (rng.NextDouble() < pMissing) continue;
                var (x, y) = truth[i].ProjectPoint(pts[j][0], pts[j][1], pts[j][2]);
                x += sigma * Gauss() + 512; y += sigma * Gauss() + 512;
                if (displacedFraction > 0 && rng.NextDouble() < displacedFraction)
                {
                    double d = 3 + 7 * rng.NextDouble(), a = 2 * Math.PI * rng.NextDouble();
                    x += d * Math.Cos(a); y += d * Math.Sin(a);
                    displaced.Add((j, i));
                }
                obs.Add(new LandmarkObservation(j, i, x, y));
            }
        return new SimulatedLandmarks
        {
            Truth = truth, Points = pts, NominalTilts = nominal, Observations = obs, Displaced = displaced,
            NominalAxis = axis, ReferenceView = reference,
        };
    }

    /// <summary>Errors of a solution against the truth, RMS over views and the largest single one.</summary>
    public Errors Compare(SolveResult r)
    {
        int n = Truth.Length;
        var rot = Enumerable.Range(0, n).Select(i => r.Views[i].AxisAngleDegrees - Truth[i].AxisAngleDegrees).ToArray();
        var tilt = Enumerable.Range(0, n).Select(i => r.Views[i].TiltDegrees - Truth[i].TiltDegrees).ToArray();
        var mag = Enumerable.Range(0, n).Select(i => r.Views[i].Magnification / Truth[i].Magnification - 1).ToArray();
        var shift = Enumerable.Range(0, n).SelectMany(i => new[] { r.Views[i].ShiftX - Truth[i].ShiftX, r.Views[i].ShiftY - Truth[i].ShiftY }).ToArray();
        static double Rms(double[] a) => Math.Sqrt(a.Average(x => x * x));
        static double Max(double[] a) => a.Max(Math.Abs);
        return new Errors(Rms(rot), Max(rot), Rms(tilt), Max(tilt), Rms(mag), Max(mag), Rms(shift), Max(shift));
    }

    public readonly record struct Errors(double RotationRms, double RotationMax, double TiltRms, double TiltMax,
        double MagRms, double MagMax, double ShiftRms, double ShiftMax)
    {
        public override string ToString() =>
            $"RMS (max) over views: rotation {RotationRms:F4}° ({RotationMax:F4}°), tilt {TiltRms:F4}° ({TiltMax:F4}°), " +
            $"mag {MagRms * 100:F4} % ({MagMax * 100:F4} %), shift {ShiftRms:F4} px ({ShiftMax:F4} px)";
    }
}
