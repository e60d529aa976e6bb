//! The built-in catalogue against the platforms of the serverless domain notes: every platform
//! a suffix can catch is matched, with its tier and tenant, on names of its documented shape;
//! tenants packed into one label are cut out, and names of the same platforms that do not have
//! the packed shape are left whole; look-alikes stay unmatched.

use virga_config::{Catalogue, Tier};

/// (name, platform id, tier, tenant).
const PLATFORMS: &[(&str, &str, u8, Option<&str>)] = &[
    // Tier 1.
    (
        "relay.acme-dev.workers.dev",
        "cloudflare_workers",
        1,
        Some("acme-dev"),
    ),
    (
        "3f2a9c1d.myproj.pages.dev",
        "cloudflare_pages",
        1,
        Some("myproj"),
    ),
    (
        "oklahoma-solo-younger-truck.trycloudflare.com",
        "cloudflare_tunnel",
        1,
        None,
    ),
    (
        "abcd1234efgh5678ijkl9012mnop3456.lambda-url.us-east-1.on.aws",
        "aws_lambda_url",
        1,
        Some("abcd1234efgh5678ijkl9012mnop3456"),
    ),
    (
        "fc01np5u7i.execute-api.us-east-1.amazonaws.com",
        "aws_api_gateway",
        1,
        Some("fc01np5u7i"),
    ),
    (
        "us-central1-myproj-123.cloudfunctions.net",
        "gcp_cloud_functions",
        1,
        Some("us-central1-myproj-123"),
    ),
    (
        "api-123456789012.us-central1.run.app",
        "gcp_cloud_run",
        1,
        Some("123456789012"),
    ),
    (
        "api-abc123xyz9-uc.a.run.app",
        "gcp_cloud_run",
        1,
        Some("abc123xyz9"),
    ),
    ("script.google.com", "google_apps_script", 1, None),
    (
        "script.googleusercontent.com",
        "google_apps_script",
        1,
        None,
    ),
    (
        "contoso-apim.azure-api.net",
        "azure_api_management",
        1,
        Some("contoso-apim"),
    ),
    (
        "relay.kindwave-1a2b3c4d.eastus.azurecontainerapps.io",
        "azure_container_apps",
        1,
        Some("kindwave-1a2b3c4d"),
    ),
    (
        "my-service.edgecompute.app",
        "fastly_compute",
        1,
        Some("my-service"),
    ),
    (
        "eo2k4x8c0n1q7vz.m.pipedream.net",
        "pipedream",
        1,
        Some("eo2k4x8c0n1q7vz"),
    ),
    (
        "0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d.m.pipedream.net",
        "pipedream",
        1,
        Some("0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"),
    ),
    (
        "1250000000-abcde12345.ap-guangzhou.tencentscf.com",
        "tencent_scf",
        1,
        Some("1250000000"),
    ),
    (
        "functions.yandexcloud.net",
        "yandex_cloud_functions",
        1,
        None,
    ),
    // Tier 2 (App Service and Static Web Apps moved down from tier 1).
    (
        "myapp.azurewebsites.net",
        "azure_functions",
        2,
        Some("myapp"),
    ),
    (
        "myapp-ds27dh7271aah175.westus-01.azurewebsites.net",
        "azure_functions",
        2,
        Some("myapp-ds27dh7271aah175"),
    ),
    (
        "myapp.scm.azurewebsites.net",
        "azure_functions",
        2,
        Some("myapp"),
    ),
    (
        "gentle-river-0a1b2c3d4.5.azurestaticapps.net",
        "azure_static_web_apps",
        2,
        Some("gentle-river-0a1b2c3d4"),
    ),
    (
        "d111111abcdef8.cloudfront.net",
        "aws_cloudfront",
        2,
        Some("d111111abcdef8"),
    ),
    (
        "abcd1234ef.us-east-1.awsapprunner.com",
        "aws_app_runner",
        2,
        Some("abcd1234ef"),
    ),
    (
        "gw1-abcd1234.uc.gateway.dev",
        "gcp_api_gateway",
        2,
        Some("gw1-abcd1234"),
    ),
    (
        "myproj.uc.r.appspot.com",
        "gcp_app_engine",
        2,
        Some("myproj"),
    ),
    ("myproj.web.app", "firebase_hosting", 2, Some("myproj")),
    (
        "myproj--pr12-x8k2m9q1.web.app",
        "firebase_hosting",
        2,
        Some("myproj"),
    ),
    (
        "myproj.firebaseapp.com",
        "firebase_hosting",
        2,
        Some("myproj"),
    ),
    (
        "relay-abcdefgh12345678.z01.azurefd.net",
        "azure_front_door",
        2,
        Some("relay-abcdefgh12345678"),
    ),
    ("api-7f3k2j9xq-acme.vercel.app", "vercel", 2, Some("acme")),
    (
        "5f8e1a2b3c4d5e6f7a8b9c0d--mysite.netlify.app",
        "netlify",
        2,
        Some("mysite"),
    ),
    (
        "relay-x7k2m9.deno.dev",
        "deno_deploy",
        2,
        Some("relay-x7k2m9"),
    ),
    ("relay.acme.deno.net", "deno_deploy", 2, Some("acme")),
    (
        "abcdefghijklmnopqrst.functions.supabase.co",
        "supabase_edge_functions",
        2,
        Some("abcdefghijklmnopqrst"),
    ),
    ("relay-nrt.fly.dev", "fly_io", 2, Some("relay-nrt")),
    ("relay-x1y2.onrender.com", "render", 2, Some("relay-x1y2")),
    (
        "relay-1a2b3c4d5e6f.herokuapp.com",
        "heroku",
        2,
        Some("relay-1a2b3c4d5e6f"),
    ),
    (
        "1a2b-203-0-113-5.ngrok-free.app",
        "ngrok",
        2,
        Some("1a2b-203-0-113-5"),
    ),
    (
        "d5dm1lba3gfnmpbu4h2v.apigw.yandexcloud.net",
        "yandex_api_gateway",
        2,
        Some("d5dm1lba3gfnmpbu4h2v"),
    ),
    (
        "relay-k3x9q.bunny.run",
        "bunny_edge_scripting",
        2,
        Some("relay-k3x9q"),
    ),
    (
        "main.d1a2b3c4d5e6f7.amplifyapp.com",
        "aws_amplify",
        2,
        Some("d1a2b3c4d5e6f7"),
    ),
    (
        "x4k9m2p7-8080.usw2.devtunnels.ms",
        "microsoft_dev_tunnels",
        2,
        Some("x4k9m2p7"),
    ),
    (
        "prod-27.westeurope.logic.azure.com",
        "azure_logic_apps",
        2,
        None,
    ),
    (
        "default2f5b1c3d.environment.api.powerplatform.com",
        "azure_logic_apps",
        2,
        Some("default2f5b1c3d"),
    ),
    (
        "default2f5b1c3d4e5f60718293a4b5c6d7e8.f9.environment.api.powerplatform.com",
        "azure_logic_apps",
        2,
        Some("default2f5b1c3d4e5f60718293a4b5c6d7e8"),
    ),
    // Tier 3.
    (
        "abcdefghijklmnopqrst.supabase.co",
        "supabase",
        3,
        Some("abcdefghijklmnopqrst"),
    ),
    ("x.up.railway.app", "railway", 3, Some("x")),
    ("relay-acme.koyeb.app", "koyeb", 3, Some("relay-acme")),
    (
        "relay-x8k2q.ondigitalocean.app",
        "digitalocean_app_platform",
        3,
        Some("relay-x8k2q"),
    ),
    (
        "faas-fra1-afec6ce7.doserverless.co",
        "digitalocean_functions",
        3,
        None,
    ),
    ("relay.glitch.me", "glitch", 3, Some("relay")),
    ("relay.replit.app", "replit", 3, Some("relay")),
    ("abc-00-xyz.kirk.replit.dev", "replit", 3, None),
    ("relay.repl.co", "replit", 3, Some("relay")),
    (
        "stevekrouse--0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d.web.val.run",
        "val_town",
        3,
        Some("stevekrouse"),
    ),
    (
        "relay-abcde12345.cn-hangzhou.fcapp.run",
        "alibaba_function_compute",
        3,
        Some("relay-abcde12345"),
    ),
    (
        "service-a1b2c3d4-1250000000.gz.apigw.tencentcs.com",
        "tencent_api_gateway",
        3,
        Some("1250000000"),
    ),
    (
        "gw.apigateway.us-ashburn-1.oci.customer-oci.com",
        "oracle_api_gateway",
        3,
        Some("gw"),
    ),
    (
        "relay.a1b2c3d4e5f.us-south.codeengine.appdomain.cloud",
        "ibm_code_engine",
        3,
        Some("a1b2c3d4e5f"),
    ),
    ("hook.eu2.make.com", "make_webhooks", 3, None),
    ("hook.integromat.com", "make_webhooks", 3, None),
    ("hooks.zapier.com", "zapier_webhooks", 3, None),
    (
        "0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d.apic.cn-north-4.huaweicloudapis.com",
        "huawei_api_gateway",
        3,
        Some("0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d"),
    ),
    (
        "fluffy-space-goggles-5g4xj7p9w6q2-8080.app.github.dev",
        "github_codespaces",
        3,
        Some("fluffy-space-goggles-5g4xj7p9w6q2"),
    ),
    (
        "relay-env.us-east-1.elasticbeanstalk.com",
        "aws_elastic_beanstalk",
        3,
        Some("relay-env"),
    ),
    (
        "relay.eba-a1b2c3d4.us-east-1.elasticbeanstalk.com",
        "aws_elastic_beanstalk",
        3,
        Some("eba-a1b2c3d4"),
    ),
    (
        "relay-vm.eastus.cloudapp.azure.com",
        "azure_vm_dns",
        3,
        Some("relay-vm"),
    ),
    (
        "relay-app.fermyon.app",
        "fermyon_cloud",
        3,
        Some("relay-app"),
    ),
    ("relay-cdn.azureedge.net", "azure_cdn", 3, Some("relay-cdn")),
    ("brave-owl-42.loca.lt", "localtunnel", 3, None),
    ("0f4b1c2d3e4f5a.lhr.life", "localhost_run", 3, None),
    ("rnxyz-203-0-113-5.a.free.pinggy.link", "pinggy", 3, None),
    (
        "myproj.firebaseio.com",
        "firebase_realtime_database",
        3,
        Some("myproj"),
    ),
    (
        "myproj-default-rtdb.europe-west1.firebasedatabase.app",
        "firebase_realtime_database",
        3,
        Some("myproj-default-rtdb"),
    ),
];

#[test]
fn every_platform_of_the_notes_is_matched_with_tier_and_tenant() {
    let c = Catalogue::builtin();
    for &(name, id, tier, tenant) in PLATFORMS {
        let m = c
            .lookup(name)
            .unwrap_or_else(|| panic!("{name} is not matched"));
        assert_eq!(
            (m.platform.id(), m.tier.number(), m.account),
            (id, tier, tenant),
            "{name}"
        );
        assert_eq!(m.platform.tier(), m.tier, "{name}");
    }
    // Every platform of the catalogue has a name above: the table is the catalogue's coverage.
    for p in c.platforms() {
        assert!(
            PLATFORMS.iter().any(|(_, id, _, _)| *id == p.id()),
            "{} has no example",
            p.id()
        );
    }
    assert_eq!(c.platform("supabase").map(|p| p.tier()), Some(Tier::Three));
}

#[test]
fn tenants_inside_one_label() {
    let c = Catalogue::builtin();
    // (name, tenant, the whole label holding it).
    let cases = [
        // Vercel: <project>-<hash>-<scope>; scopes and projects may hold dashes.
        (
            "api-7f3k2j9xq-acme.vercel.app",
            "acme",
            "api-7f3k2j9xq-acme",
        ),
        (
            "my-app-4hq2k8x1z-johns-projects.vercel.app",
            "johns-projects",
            "my-app-4hq2k8x1z-johns-projects",
        ),
        // Not split: a production name, names without a deployment hash.
        ("my-cool-app.vercel.app", "my-cool-app", "my-cool-app"),
        (
            "api-abcdefghi-acme.vercel.app",
            "api-abcdefghi-acme",
            "api-abcdefghi-acme",
        ),
        (
            "docs-7f3k2j9xq.vercel.app",
            "docs-7f3k2j9xq",
            "docs-7f3k2j9xq",
        ),
        // Netlify: <deploy>--<site>.
        (
            "deploy-preview-3--mysite.netlify.app",
            "mysite",
            "deploy-preview-3--mysite",
        ),
        ("my-site.netlify.app", "my-site", "my-site"),
        // Val Town: <user>--<id>; the older <user>-<val> is one label.
        (
            "stevekrouse--0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d.web.val.run",
            "stevekrouse",
            "stevekrouse--0f4b1c2d3e4f5a6b7c8d9e0f1a2b3c4d",
        ),
        (
            "stevekrouse-relay.web.val.run",
            "stevekrouse-relay",
            "stevekrouse-relay",
        ),
        // Cloud Run: <service>-<project hash>-<region code>.a.run.app.
        (
            "my-api-3nyzgy7bjq-uc.a.run.app",
            "3nyzgy7bjq",
            "my-api-3nyzgy7bjq-uc",
        ),
        (
            "hello-3nyzgy7bjq-ew.a.run.app",
            "3nyzgy7bjq",
            "hello-3nyzgy7bjq-ew",
        ),
        ("hello-world.a.run.app", "hello-world", "hello-world"),
        (
            "hello-3nyzgy7bjq-europe.a.run.app",
            "hello-3nyzgy7bjq-europe",
            "hello-3nyzgy7bjq-europe",
        ),
        ("3nyzgy7bjq-uc.a.run.app", "3nyzgy7bjq-uc", "3nyzgy7bjq-uc"),
        // Cloud Run deterministic URLs: <service>-<project number>.<region>.run.app.
        (
            "api-123456789012.us-central1.run.app",
            "123456789012",
            "api-123456789012",
        ),
        ("api-v2.us-central1.run.app", "api-v2", "api-v2"),
        // Tencent SCF: <appid>-<id>.
        (
            "1250000000-abcde12345.ap-guangzhou.tencentscf.com",
            "1250000000",
            "1250000000-abcde12345",
        ),
        (
            "relay-abcde12345.ap-guangzhou.tencentscf.com",
            "relay-abcde12345",
            "relay-abcde12345",
        ),
        // Tencent API Gateway: service-<8>-<appid>.
        (
            "service-a1b2c3d4-1250000000.gz.apigw.tencentcs.com",
            "1250000000",
            "service-a1b2c3d4-1250000000",
        ),
        (
            "service-a1b2c3d4.gz.apigw.tencentcs.com",
            "service-a1b2c3d4",
            "service-a1b2c3d4",
        ),
        // Dev Tunnels and Codespaces: <tunnel>-<port>; a name without a port stays whole.
        ("x4k9m2p7-443.euw.devtunnels.ms", "x4k9m2p7", "x4k9m2p7-443"),
        ("x4k9m2p7.euw.devtunnels.ms", "x4k9m2p7", "x4k9m2p7"),
        (
            "fluffy-space-goggles-5g4xj7p9w6q2.app.github.dev",
            "fluffy-space-goggles-5g4xj7p9w6q2",
            "fluffy-space-goggles-5g4xj7p9w6q2",
        ),
        // Firebase preview channels: <site>--<channel>-<hash>.
        (
            "myproj--pr12-x8k2m9q1.web.app",
            "myproj",
            "myproj--pr12-x8k2m9q1",
        ),
    ];
    for (name, tenant, label) in cases {
        let m = c
            .lookup(name)
            .unwrap_or_else(|| panic!("{name} is not matched"));
        assert_eq!(
            (m.account, m.account_label),
            (Some(tenant), Some(label)),
            "{name}"
        );
    }
    // The tenant is a slice of the looked-up name, in its case.
    let m = c.lookup("API-7F3K2J9XQ-Acme.vercel.app").unwrap();
    assert_eq!(m.account, Some("Acme"));
}

#[test]
fn look_alikes_stay_unmatched() {
    let c = Catalogue::builtin();
    for name in [
        "edgecompute.app",
        "relay.edgecompute.app.evil.com",
        "eo2k4x8c0n1q7vz.pipedream.net",
        "m.pipedream.net",
        "x.y.m.pipedream.net",
        "1250000000-abcde12345.tencentscf.com",
        "x.functions.yandexcloud.net",
        "functions.yandexcloud.net.evil.com",
        "functions-yandexcloud.net",
        "apigw.yandexcloud.net",
        "relay.bunny.run.evil.com",
        "evilbunny.run",
        "x4k9m2p7-8080.devtunnels.ms",
        "x.prod-27.westeurope.logic.azure.com",
        "logic.azure.com",
        "environment.api.powerplatform.com",
        "hook.make.com",
        "www.make.com",
        "hook.eu2.make.com.evil.com",
        "x.hook.integromat.com",
        "hooks.zapier.com.evil.com",
        "zapier.com",
        "abc.apic.huaweicloudapis.com",
        "app.github.dev",
        "x.github.dev",
        "elasticbeanstalk.com",
        "x.elasticbeanstalk.com",
        "cloudapp.azure.com",
        "x.cloudapp.azure.com",
        "fermyon.app",
        "azureedge.net",
        "loca.lt",
        "evil-loca.lt",
        "lhr.life",
        "pinggy.link",
        "firebaseio.com",
        "x.firebasedatabase.app",
        "supabase.co",
        "a.b.functions.supabase.co",
        "x.fcapp.run",
        "a.b.c.cn-hangzhou.fcapp.run",
        "x.apigw.tencentcs.com",
        "app.us-south.codeengine.appdomain.cloud",
        "abc.lambda-url.us-east-1.amazonaws.com",
        "relay.acme.workers.dev.evil.com",
        "relay.evilworkers.dev",
        "x.script.google.com",
    ] {
        let found = c.lookup(name);
        assert!(found.is_none(), "{name:?} matched {found:?}");
    }
}
