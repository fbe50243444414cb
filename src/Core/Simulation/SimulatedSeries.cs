using System.Text.Json;
using Tomalign.Core.Geometry;
using Tomalign.Core.Imaging;

namespace Tomalign.Core.Simulation;

/// <summary>A gold bead: a sphere of uniform density, centre in the specimen frame (pixels, relative to the volume centre).</summary>
public readonly record struct Bead(double X, double Y, double Z, double Radius, double Density);

/// <summary>A 3-D Gaussian blob: density <c>Amplitude·exp(−|X−C|²/(2·Sigma²))</c>, centre in the specimen frame.</summary>
public readonly record struct Blob(double X, double Y, double Z, double Sigma, double Amplitude);

/// <summary>
/// A simulated tilt series and its truth. The raw stack holds transmitted intensity relative to
/// the incident beam (vacuum = 1; with dose D the values are Poisson counts / D).
/// </summary>
public sealed class SimulatedSeries
{
    internal SimulatedSeries(SimulationOptions options, ImageStack? raw, double[] nominalTilts, double[] trueTilts,
        ViewGeometry[] trueGeometry, Bead[] beads, Blob[] blobs, int referenceView)
    {
        Options = options;
        _raw = raw;
        NominalTilts = nominalTilts;
        TrueTilts = trueTilts;
        TrueGeometry = trueGeometry;
        AligningTransforms = trueGeometry.Select(g => g.RawToAligned()).ToArray();
        Beads = beads;
        Blobs = blobs;
        ReferenceView = referenceView;
    }

    private readonly ImageStack? _raw;

    public SimulationOptions Options { get; }
    /// <summary>The raw views (Nx × Ny × views), intensity relative to the incident beam.</summary>
    /// <exception cref="InvalidOperationException">The truth was loaded from its file (<see cref="LoadTruth"/>), without pixels.</exception>
    public ImageStack Raw => _raw ?? throw new InvalidOperationException("this simulated series was loaded from its truth file, without its pixels");
    /// <summary>Image width in pixels.</summary>
    public int Nx => Options.Nx;
    /// <summary>Image height in pixels.</summary>
    public int Ny => Options.Ny;
    /// <summary>Number of views.</summary>
    public int ViewCount => TrueGeometry.Length;
    /// <summary>Nominal tilts, one per view (what goes in the .rawtlt).</summary>
    public double[] NominalTilts { get; }
    /// <summary>True tilts (nominal + tilt error; what an exact .tlt holds).</summary>
    public double[] TrueTilts { get; }
    /// <summary>The true per-view geometry used to project every feature.</summary>
    public ViewGeometry[] TrueGeometry { get; }
    /// <summary>Raw → aligned transform per view, <c>TrueGeometry[i].RawToAligned()</c> (the exact .xf).</summary>
    public Xf[] AligningTransforms { get; }
    public Bead[] Beads { get; }
    public Blob[] Blobs { get; }
    /// <summary>The view nearest zero tilt: magnification exactly 1, shift exactly 0, tilt exactly nominal.</summary>
    public int ReferenceView { get; }

    /// <summary>
    /// Image coordinates of every bead's projected centre in <paramref name="view"/>, in the raw
    /// frame (the model's p plus the centre (NX/2, NY/2)) or in the aligned frame (P·R_y(θ)·X plus
    /// the centre), in the order of <see cref="Beads"/>. Points may lie outside the image.
    /// </summary>
    public IReadOnlyList<(double X, double Y)> TrueBeadProjections(int view, bool aligned) =>
        TrueProjections(view, aligned, Beads.Select(b => (b.X, b.Y, b.Z)).ToArray());

    /// <summary>
    /// Image coordinates, in the raw or the aligned frame, of arbitrary specimen points (x, y, z about
    /// the specimen centre, pixels) projected through the true geometry of <paramref name="view"/>.
    /// </summary>
    public IReadOnlyList<(double X, double Y)> TrueProjections(int view, bool aligned, IReadOnlyList<(double X, double Y, double Z)> points)
    {
        if ((uint)view >= (uint)TrueGeometry.Length)
            throw new ArgumentOutOfRangeException(nameof(view), $"view {view} is not in 0…{TrueGeometry.Length - 1}");
        ArgumentNullException.ThrowIfNull(points);
        var g = TrueGeometry[view];
        double xc = Nx / 2.0, yc = Ny / 2.0;
        var result = new (double X, double Y)[points.Count];
        for (int j = 0; j < points.Count; j++)
        {
            var (px, py, pz) = points[j];
            (double x, double y) = aligned ? g.ProjectAligned(px, py, pz) : g.ProjectPoint(px, py, pz);
            if (Options.LocalWarpPixels != 0)
            {
                // The local warp moves the raw projection; its aligned image is the moved point through the view's alignment.
                var (wx, wy) = LocalWarp.Displacement(Options.LocalWarpPixels, LocalWarp.Gain(Options, NominalTilts[view]), px, py, Nx, Ny);
                var (rx, ry) = g.ProjectPoint(px, py, pz);
                (x, y) = aligned ? g.RawToAligned().ApplyCentred(rx + wx, ry + wy) : (rx + wx, ry + wy);
            }
            result[j] = (x + xc, y + yc);
        }
        return result;
    }

    /// <summary>
    /// Points spread over the field of view and through the slab: a 9 × 9 grid over the central 80 %
    /// of the image in x and y at z = −0.4, 0 and +0.4 of the slab thickness (243 points), the places
    /// where an alignment is measured when a series has no beads.
    /// </summary>
    public IReadOnlyList<(double X, double Y, double Z)> FieldPoints()
    {
        var points = new List<(double, double, double)>();
        foreach (double fz in new[] { -0.4, 0, 0.4 })
            for (int j = 0; j < 9; j++)
                for (int i = 0; i < 9; i++)
                    points.Add(((i - 4) / 4.0 * 0.4 * Nx, (j - 4) / 4.0 * 0.4 * Ny, fz * Options.ThicknessPixels));
        return points;
    }

    /// <summary>
    /// The truth of a series written by `simulate` (NAME.truth.json, <see cref="ToJson"/>), without its pixels: enough to
    /// measure an alignment against it (<see cref="AlignmentCheck"/>); <see cref="Raw"/> is then unavailable.
    /// </summary>
    /// <exception cref="TomalignInputException">The file is missing or is not a truth file.</exception>
    public static SimulatedSeries LoadTruth(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (!root.TryGetProperty("Format", out var format) || format.GetString() != "tomalign-simulation-truth/1")
                throw new TomalignInputException(path, "is not a truth file of `tomalign simulate` (no Format tomalign-simulation-truth/1)",
                    "give the NAME.truth.json that simulate wrote");
            var options = root.GetProperty("Options").Deserialize<SimulationOptions>()!;
            var views = root.GetProperty("Views").EnumerateArray().ToArray();
            var nominal = views.Select(v => v.GetProperty("NominalTilt").GetDouble()).ToArray();
            var tilts = views.Select(v => v.GetProperty("TrueTilt").GetDouble()).ToArray();
            var geometry = views.Select(v => new ViewGeometry(v.GetProperty("TrueTilt").GetDouble(), v.GetProperty("AxisAngle").GetDouble(),
                v.GetProperty("Magnification").GetDouble(), v.GetProperty("ShiftX").GetDouble(), v.GetProperty("ShiftY").GetDouble(),
                v.GetProperty("XAxisTiltDegrees").GetDouble(),
                v.TryGetProperty("XStretch", out var xs) ? xs.GetDouble() : 0, v.TryGetProperty("SkewDegrees", out var sk) ? sk.GetDouble() : 0)).ToArray();
            var beads = root.GetProperty("Beads").Deserialize<Bead[]>()!;
            var blobs = root.GetProperty("Blobs").Deserialize<Blob[]>()!;
            return new SimulatedSeries(options, null, nominal, tilts, geometry, beads, blobs, root.GetProperty("ReferenceView").GetInt32());
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException or KeyNotFoundException or InvalidOperationException)
        {
            throw new TomalignInputException(path, $"cannot be read as a simulation truth file ({e.Message})", "give the NAME.truth.json that simulate wrote", e);
        }
    }

    /// <summary>
    /// The truth of some of the views, in the given order (without pixels): what an alignment of a prepared stack
    /// (views sorted by tilt, some left out) is measured against. The reference view is the chosen one nearest zero tilt.
    /// </summary>
    public SimulatedSeries Subset(IReadOnlyList<int> views)
    {
        ArgumentNullException.ThrowIfNull(views);
        var v = views.ToArray();
        if (v.Any(i => i < 0 || i >= ViewCount)) throw new ArgumentOutOfRangeException(nameof(views), $"views must lie within 0…{ViewCount - 1}");
        int reference = Array.IndexOf(v, ReferenceView);
        if (reference < 0) reference = Enumerable.Range(0, v.Length).MinBy(k => Math.Abs(NominalTilts[v[k]]));
        return new SimulatedSeries(Options, null, v.Select(i => NominalTilts[i]).ToArray(), v.Select(i => TrueTilts[i]).ToArray(),
            v.Select(i => TrueGeometry[i]).ToArray(), Beads, Blobs, reference);
    }

    /// <summary>The views of this series whose nominal tilts are <paramref name="angles"/> (an angle file of a prepared stack), in that order.</summary>
    /// <exception cref="ArgumentException">An angle matches no view.</exception>
    public int[] ViewsWithNominalTilts(IReadOnlyList<double> angles) => angles.Select(a =>
    {
        int best = Enumerable.Range(0, ViewCount).MinBy(i => Math.Abs(NominalTilts[i] - a));
        return Math.Abs(NominalTilts[best] - a) < 1e-3 ? best : throw new ArgumentException($"no view of the series has the nominal tilt {a}");
    }).ToArray();

    /// <summary>Every parameter and the per-view truth as indented JSON (the truth file).</summary>
    public string ToJson()
    {
        var views = Enumerable.Range(0, TrueGeometry.Length).Select(i =>
        {
            var g = TrueGeometry[i];
            var xf = AligningTransforms[i];
            return new
            {
                Index = i,
                NominalTilt = NominalTilts[i],
                TrueTilt = TrueTilts[i],
                AxisAngle = g.AxisAngleDegrees,
                g.Magnification,
                g.ShiftX,
                g.ShiftY,
                g.XAxisTiltDegrees,
                g.XStretch,
                g.SkewDegrees,
                Xf = new[] { xf.A11, xf.A12, xf.A21, xf.A22, xf.Dx, xf.Dy },
                BeadsRaw = TrueBeadProjections(i, aligned: false).Select(p => new[] { p.X, p.Y }).ToArray(),
                BeadsAligned = TrueBeadProjections(i, aligned: true).Select(p => new[] { p.X, p.Y }).ToArray(),
            };
        }).ToArray();
        var doc = new
        {
            Format = "tomalign-simulation-truth/1",
            Conventions = "p = m·R(α)·P·R_y(θ)·X + d (pixels, relative to the image centre (NX/2, NY/2)); " +
                          "Xf = raw→aligned (IMOD .xf line A11 A12 A21 A22 DX DY); bead/blob positions in the specimen frame " +
                          "relative to the volume centre, y along the tilt axis, z across the slab; images hold intensity " +
                          "relative to the incident beam",
            Options,
            Options.ViewCount,
            ReferenceView,
            Views = views,
            Beads,
            Blobs,
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
    }
}
