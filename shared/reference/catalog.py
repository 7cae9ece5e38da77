"""The published list of items that can be handled anywhere in the province (通办事项清单).

Each item is its standard guide (办事指南): materials, time limits in working days, fee, delivery
methods and the jurisdiction rule that routing uses to find the competent locality. The models
are the public item guide of API.md, so field names are part of the contract.

`handled_anywhere` marks the items on the province's own list (全省通办清单): the province-wide
default agreement lets every window in the province accept them. The others (on-site inspection,
investigation) are taken outside their competent locality only under a specific agreement.

Material flags:
- `required` and neither `deferrable` nor `commitment_allowed`: a key material; without it the
  application gets the one-time notice (一次性告知).
- `deferrable`: may be missing at intake and supplied later (容缺受理).
- `commitment_allowed`: a signed commitment may replace it (告知承诺制).
- `original_required`: the window must check the original (原件核验).
- `certificate_items`: 免证办: the items whose electronic certificates (电子证照) may be cited
  instead of handing it in. Intake checks a cited certificate against its replica of the
  province's certificate registry: of one of these items, valid, not revoked, the applicant's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from shared.vocabulary import CompetentLevel, DeliveryMethod, Jurisdiction

# The plan publishes the list once a year (每年集中公布一次); this is the first batch.
CATALOG_VERSION: str = "2025.1"

ApplicantKind = Literal["person", "enterprise"]

# Exact in Python, a plain JSON number on the wire (clients read fees as numbers, not strings).
Yuan = Annotated[
    Decimal,
    Field(ge=0, max_digits=10, decimal_places=2),
    PlainSerializer(float, return_type=float, when_used="json"),
]


class Material(BaseModel):
    model_config = ConfigDict(frozen=True)

    material_code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    required: bool
    deferrable: bool = Field(default=False, description="may be supplied after acceptance")
    commitment_allowed: bool = Field(default=False, description="a commitment may replace it")
    original_required: bool = Field(default=False, description="the window checks the original")
    certificate_items: list[str] = Field(
        default=[],
        description="免证办: the items whose certificates may be cited instead of handing it in "
        "(materials entry with `certificate_no`, no scan)",
    )


class CatalogItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_code: str = Field(min_length=1)
    name: str = Field(min_length=1)
    domain: str
    department: str
    jurisdiction: Jurisdiction = Field(
        description="whose locality is competent: the applicant's household registration, the "
        "enterprise's registration, the property's location, or the province"
    )
    competent_level: CompetentLevel = Field(
        default=CompetentLevel.CITY,
        description="which level of that locality decides (ignored for province items)",
    )
    statutory_days: int = Field(ge=0, description="statutory time limit in working days")
    promised_days: int = Field(ge=0, description="promised time limit in working days")
    fee_yuan: Yuan
    delivery_methods: list[DeliveryMethod] = Field(min_length=1)
    materials: list[Material]
    applicant_kinds: list[ApplicantKind] = Field(min_length=1)
    # What the competent department's review checks (审查要点); shown in the guide.
    review_points: list[str] = Field(default_factory=list)
    legal_basis: str = Field(min_length=1, description="the laws and regulations it rests on")
    contact_phone: str = Field(pattern=r"^[0-9\-]{3,20}$", description="enquiries (咨询电话)")
    deferred_days: int = Field(
        default=5,
        ge=1,
        le=30,
        description="working days after acceptance to hand in deferred (容缺) materials",
    )
    handled_anywhere: bool = Field(
        default=True,
        description="listed by the province as handled anywhere (全省通办); the province-wide "
        "default agreement covers it",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CatalogItem:
        if self.promised_days > self.statutory_days:
            raise ValueError("promised_days must not exceed statutory_days")
        codes = [material.material_code for material in self.materials]
        if len(codes) != len(set(codes)):
            raise ValueError("material codes must be unique within an item")
        if len(self.delivery_methods) != len(set(self.delivery_methods)):
            raise ValueError("delivery_methods must not repeat")
        if len(self.applicant_kinds) != len(set(self.applicant_kinds)):
            raise ValueError("applicant_kinds must not repeat")
        for material in self.materials:
            if len(material.certificate_items) != len(set(material.certificate_items)):
                raise ValueError(f"certificate_items of {material.material_code} must not repeat")
        return self

    def material(self, material_code: str) -> Material | None:
        """The item's material with this code, or None."""
        return next((m for m in self.materials if m.material_code == material_code), None)


def _material(
    code: str,
    name: str,
    *,
    required: bool = True,
    deferrable: bool = False,
    commitment: bool = False,
    original: bool = False,
    certificates: tuple[str, ...] = (),
) -> Material:
    return Material(
        material_code=code,
        name=name,
        required=required,
        deferrable=deferrable,
        commitment_allowed=commitment,
        original_required=original,
        certificate_items=list(certificates),
    )


# 免证办: what the province's own items issue and later applications may cite. A change of
# household registration items (户口登记项目变更) issues the updated household register page,
# which stands in for a copy of the register.
_HOUSEHOLD_REGISTER = ("GA-HJ-002",)


_BOTH: list[DeliveryMethod] = [DeliveryMethod.WINDOW_PICKUP, DeliveryMethod.POSTAL]

CATALOG: tuple[CatalogItem, ...] = (
    # --- 公安: household items are decided where the applicant's household is registered.
    CatalogItem(
        item_code="GA-HJ-001",
        name="户口迁移证明开具",
        domain="公安",
        department="公安局",
        legal_basis="《中华人民共和国户口登记条例》第十条",
        contact_phone="12345",
        # Not on the province-wide list: windows outside the household's city take it only
        # under a specific agreement between the cities (as 马鞍山 grants 阜阳 in the demo).
        handled_anywhere=False,
        jurisdiction="household",
        competent_level="city",
        statutory_days=20,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "居民户口簿复印件", deferrable=True, certificates=_HOUSEHOLD_REGISTER),
            _material("M03", "亲属关系证明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=[
            "申请人身份与户籍信息一致",
            "迁移事由符合户口迁移政策",
            "以承诺代替亲属关系证明的，纳入事后核查",
        ],
    ),
    CatalogItem(
        item_code="GA-SFZ-001",
        name="居民身份证换领",
        domain="公安",
        department="公安局",
        legal_basis="《中华人民共和国居民身份证法》第八条、第十一条",
        contact_phone="12345",
        jurisdiction="household",
        # Identity cards are issued by the county-level public security organ of the household.
        competent_level="county",
        statutory_days=60,
        promised_days=20,
        fee_yuan=Decimal("20"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "原居民身份证", original=True),
            _material("M02", "居民身份证数码相片采集回执"),
            _material("M03", "居民户口簿复印件", required=False, certificates=_HOUSEHOLD_REGISTER),
        ],
        applicant_kinds=["person"],
        review_points=["人像比对一致", "有效期届满或证件损坏情形属实", "指纹信息采集完整"],
    ),
    CatalogItem(
        item_code="GA-HJ-002",
        name="户口登记项目变更更正（出生日期、民族、姓名等）",
        domain="公安",
        department="公安局",
        legal_basis="《中华人民共和国户口登记条例》第十七条",
        contact_phone="12345",
        jurisdiction="household",
        competent_level="county",
        statutory_days=20,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "居民户口簿", original=True),
            _material("M03", "变更更正依据（出生医学证明、早期户籍档案等）", original=True),
            _material("M04", "所在单位或村（居）委会出具的情况说明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["变更更正依据真实、充分", "与早期户籍档案记载相互印证"],
    ),
    # --- 市场监管: decided by the enterprise's registration authority.
    CatalogItem(
        item_code="SJ-DJ-001",
        name="企业变更登记（名称、住所、经营范围）",
        domain="市场监管",
        department="市场监督管理局",
        legal_basis="《中华人民共和国市场主体登记管理条例》第十九条、第二十四条",
        contact_phone="12315",
        jurisdiction="enterprise",
        competent_level="city",
        statutory_days=3,
        promised_days=1,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "企业变更登记申请书"),
            _material("M02", "法定代表人身份证件", original=True),
            _material("M03", "股东会决议或股东决定"),
            _material("M04", "住所（经营场所）使用证明", commitment=True),
            _material("M05", "营业执照正、副本", deferrable=True, original=True),
        ],
        applicant_kinds=["enterprise"],
        review_points=["申请材料齐全、符合法定形式", "变更后名称不与已登记名称重复"],
    ),
    CatalogItem(
        item_code="SJ-SP-001",
        name="食品经营许可证变更",
        domain="市场监管",
        department="市场监督管理局",
        legal_basis="《中华人民共和国食品安全法》第三十五条；《食品经营许可和备案管理办法》",
        contact_phone="12315",
        jurisdiction="enterprise",
        competent_level="county",
        statutory_days=20,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "食品经营许可变更申请书"),
            _material("M02", "营业执照"),
            _material("M03", "经营场所平面图和设备布局图"),
            _material("M04", "食品安全管理制度文本", commitment=True),
            _material("M05", "食品经营许可证正、副本", deferrable=True, original=True),
        ],
        applicant_kinds=["enterprise"],
        review_points=["经营场所与许可事项相适应", "需现场核查的，由属地在时限内完成"],
    ),
    CatalogItem(
        item_code="SJ-DJ-002",
        name="个体工商户变更登记",
        domain="市场监管",
        department="市场监督管理局",
        legal_basis="《中华人民共和国市场主体登记管理条例》第二条、第二十四条",
        contact_phone="12315",
        jurisdiction="enterprise",
        competent_level="county",
        statutory_days=3,
        promised_days=1,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "个体工商户变更登记申请书"),
            _material("M02", "经营者身份证件", original=True),
            _material("M03", "经营场所使用证明", commitment=True),
            _material("M04", "营业执照正、副本", deferrable=True, original=True),
        ],
        applicant_kinds=["enterprise"],
        review_points=["申请材料齐全、符合法定形式", "变更后的经营场所符合登记要求"],
    ),
    CatalogItem(
        item_code="SJ-YP-001",
        name="药品零售企业药品经营许可证变更（经营场所）",
        domain="市场监管",
        department="市场监督管理局",
        legal_basis="《中华人民共和国药品管理法》第五十一条；《药品经营和使用质量监督管理办法》",
        contact_phone="12315",
        jurisdiction="enterprise",
        competent_level="county",
        statutory_days=15,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "药品经营许可证变更申请表"),
            _material("M02", "营业执照"),
            _material("M03", "新经营场所使用证明"),
            _material("M04", "新经营场所平面布局图和设施设备清单"),
            _material("M05", "药品经营许可证正、副本", deferrable=True, original=True),
        ],
        applicant_kinds=["enterprise"],
        review_points=["新经营场所经现场检查，符合药品经营质量管理规范"],
        # The new premises are inspected on site by the licensing authority, so the province
        # does not list it as handled anywhere.
        handled_anywhere=False,
    ),
    # --- 教育
    CatalogItem(
        item_code="JY-JS-001",
        name="高等学校教师资格认定",
        domain="教育",
        department="省教育厅",
        legal_basis="《中华人民共和国教师法》第十三条；《教师资格条例》第十三条",
        contact_phone="0551-12345",
        jurisdiction="province",
        statutory_days=30,
        promised_days=20,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "学历证书", original=True),
            _material("M03", "岗前培训合格证明"),
            _material("M04", "教师资格认定体检合格证明", deferrable=True),
            _material("M05", "思想品德鉴定表", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["学历符合《教师法》规定", "体检结论合格", "无不得认定教师资格的情形"],
    ),
    CatalogItem(
        item_code="JY-JS-002",
        name="幼儿园、小学和初级中学教师资格认定",
        domain="教育",
        department="教育局",
        legal_basis="《中华人民共和国教师法》第十三条；《教师资格条例》第十三条",
        contact_phone="12345",
        jurisdiction="household",
        competent_level="county",
        statutory_days=30,
        promised_days=20,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "学历证书", original=True),
            _material("M03", "普通话水平测试等级证书"),
            _material("M04", "教师资格认定体检合格证明", deferrable=True),
            _material("M05", "思想品德鉴定表", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["学历符合所申请教师资格种类", "普通话水平达到规定等级"],
    ),
    CatalogItem(
        item_code="JY-JS-003",
        name="教师资格证书补发、换发",
        domain="教育",
        department="教育局",
        legal_basis="《中华人民共和国教师法》第十条；《教师资格条例》",
        contact_phone="12345",
        jurisdiction="household",
        competent_level="county",
        statutory_days=20,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "教师资格证书补发换发申请表"),
            _material(
                "M03",
                "原教师资格证书（换发时提交）",
                required=False,
                # The certificate the qualification (教师资格认定) issued.
                certificates=("JY-JS-001", "JY-JS-002"),
            ),
            _material("M04", "证书遗失声明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["教师资格认定信息可在管理信息系统中查证", "未被撤销或丧失教师资格"],
    ),
    # --- 医疗: 参保地 is approximated by the household locality.
    CatalogItem(
        item_code="YL-YB-001",
        name="基本医疗保险异地就医备案",
        domain="医疗",
        department="医疗保障局",
        legal_basis="《中华人民共和国社会保险法》第二十九条",
        contact_phone="12393",
        jurisdiction="household",
        competent_level="city",
        statutory_days=5,
        promised_days=1,
        fee_yuan=Decimal("0"),
        delivery_methods=["window_pickup"],
        materials=[
            _material("M01", "居民身份证或医保电子凭证", original=True),
            _material("M02", "异地就医备案申请表"),
            # National policy lets a personal commitment replace the proof of residence.
            _material("M03", "异地长期居住证明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["参保状态正常", "备案类型与就医地相符"],
    ),
    CatalogItem(
        item_code="YL-YB-002",
        name="基本医疗保险关系转移接续",
        domain="医疗",
        department="医疗保障局",
        legal_basis="《中华人民共和国社会保险法》第三十二条",
        contact_phone="12393",
        jurisdiction="household",
        competent_level="city",
        statutory_days=45,
        promised_days=15,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证或医保电子凭证", original=True),
            _material("M02", "基本医疗保险关系转移接续申请表"),
            _material("M03", "参保缴费凭证", deferrable=True),
        ],
        applicant_kinds=["person"],
        review_points=["转出地参保缴费信息完整", "缴费年限累计计算无重复"],
        deferred_days=10,
    ),
    CatalogItem(
        item_code="YL-SY-001",
        name="生育津贴申领",
        domain="医疗",
        department="医疗保障局",
        legal_basis="《中华人民共和国社会保险法》第五十四条、第五十六条",
        contact_phone="12393",
        jurisdiction="household",
        competent_level="city",
        statutory_days=20,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证或医保电子凭证", original=True),
            _material("M02", "出生医学证明或医疗机构诊断证明"),
            _material("M03", "结婚证", commitment=True),
            _material("M04", "本人社会保障卡或银行账户信息", deferrable=True),
        ],
        applicant_kinds=["person"],
        review_points=["生育时用人单位已为其缴纳生育保险费", "产假天数符合规定"],
    ),
    # --- 住房: property items are decided where the property lies.
    CatalogItem(
        item_code="ZF-GJJ-001",
        name="住房公积金异地个人住房贷款",
        domain="住房",
        department="住房公积金管理中心",
        legal_basis="《住房公积金管理条例》第二十六条",
        contact_phone="12329",
        deferred_days=10,
        jurisdiction="property",
        competent_level="city",
        statutory_days=15,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "借款人居民身份证", original=True),
            _material("M02", "商品房买卖合同", original=True),
            _material("M03", "异地贷款缴存使用证明", deferrable=True),
            _material("M04", "首付款发票或收据", deferrable=True),
            _material("M05", "婚姻状况证明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=[
            "缴存时间和状态符合贷款条件",
            "贷款额度不超过可贷上限",
            "所购房屋为自住住房",
        ],
    ),
    CatalogItem(
        item_code="ZF-BDC-001",
        name="不动产登记资料查询",
        domain="住房",
        department="不动产登记中心",
        legal_basis="《不动产登记暂行条例》第二十七条",
        contact_phone="12345",
        jurisdiction="property",
        competent_level="city",
        statutory_days=5,
        promised_days=1,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "查询人身份证明", original=True),
            _material("M02", "不动产登记资料查询申请书"),
            _material("M03", "授权委托书", required=False),
        ],
        applicant_kinds=["person", "enterprise"],
        review_points=["查询人为权利人、利害关系人或其委托人"],
    ),
    CatalogItem(
        item_code="ZF-JZS-001",
        name="二级建造师初始注册",
        domain="住房",
        department="省住房和城乡建设厅",
        legal_basis="《中华人民共和国建筑法》第十四条；《注册建造师管理规定》",
        contact_phone="0551-12345",
        jurisdiction="province",
        statutory_days=20,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "二级建造师资格证书"),
            _material("M03", "与聘用单位签订的劳动合同", deferrable=True),
            _material("M04", "聘用单位缴纳社会保险证明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["资格证书真实有效", "申请人未在两个及以上单位注册"],
    ),
    CatalogItem(
        item_code="ZF-GJJ-002",
        name="住房公积金提取（租赁住房）",
        domain="住房",
        department="住房公积金管理中心",
        legal_basis="《住房公积金管理条例》第二十四条、第二十五条",
        contact_phone="12329",
        # 缴存地 is approximated by the household locality, like 参保地 above.
        jurisdiction="household",
        competent_level="city",
        statutory_days=3,
        promised_days=1,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "住房租赁合同或租赁登记备案证明"),
            _material("M03", "本人及配偶在缴存地无自有住房的说明", commitment=True),
            _material("M04", "本人银行账户信息", deferrable=True),
        ],
        applicant_kinds=["person"],
        review_points=["连续足额缴存满规定期限", "提取额度不超过租房提取限额"],
    ),
    # --- 社保
    CatalogItem(
        item_code="SB-SBK-001",
        name="社会保障卡补领",
        domain="社保",
        department="人力资源和社会保障局",
        legal_basis="《中华人民共和国社会保险法》第五十八条",
        contact_phone="12333",
        jurisdiction="household",
        competent_level="city",
        statutory_days=20,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "近期免冠白底证件照片", deferrable=True),
        ],
        applicant_kinds=["person"],
        review_points=["原卡已挂失", "照片符合制卡要求"],
    ),
    CatalogItem(
        item_code="SB-JM-001",
        name="城乡居民基本养老保险参保登记",
        domain="社保",
        department="人力资源和社会保障局",
        legal_basis="《中华人民共和国社会保险法》第二十条、第二十二条",
        contact_phone="12333",
        jurisdiction="household",
        competent_level="county",
        statutory_days=15,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "居民户口簿复印件", deferrable=True, certificates=_HOUSEHOLD_REGISTER),
            _material("M03", "未参加职工基本养老保险的说明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["年满16周岁且非在校学生", "未参加职工基本养老保险"],
    ),
    CatalogItem(
        item_code="SB-YL-001",
        name="基本养老保险关系转移接续",
        domain="社保",
        department="人力资源和社会保障局",
        legal_basis="《中华人民共和国社会保险法》第十九条",
        contact_phone="12333",
        jurisdiction="household",
        competent_level="city",
        statutory_days=45,
        promised_days=15,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "基本养老保险关系转移接续申请表"),
            _material("M03", "参保缴费凭证", deferrable=True),
        ],
        applicant_kinds=["person"],
        review_points=["转出地参保缴费信息完整", "不存在重复参保、重复领取待遇"],
        deferred_days=10,
    ),
    CatalogItem(
        item_code="SB-SY-001",
        name="失业保险金申领",
        domain="社保",
        department="人力资源和社会保障局",
        legal_basis="《中华人民共和国社会保险法》第四十五条；《失业保险条例》第十四条",
        contact_phone="12333",
        jurisdiction="household",
        competent_level="county",
        statutory_days=20,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证或社会保障卡", original=True),
            _material("M02", "解除或者终止劳动关系的证明", deferrable=True),
            _material("M03", "本人银行账户信息", required=False),
        ],
        applicant_kinds=["person"],
        review_points=["失业前缴纳失业保险费满一年", "非因本人意愿中断就业", "已进行失业登记"],
    ),
    CatalogItem(
        item_code="SB-GS-001",
        name="工伤认定申请",
        domain="社保",
        department="人力资源和社会保障局",
        legal_basis="《工伤保险条例》第十七条、第十八条、第二十条",
        contact_phone="12333",
        jurisdiction="enterprise",
        competent_level="city",
        statutory_days=60,
        promised_days=30,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "工伤认定申请表"),
            _material("M02", "与用人单位存在劳动关系的证明材料"),
            _material("M03", "医疗诊断证明或者职业病诊断证明书", original=True),
            _material("M04", "受伤害职工居民身份证复印件", deferrable=True),
        ],
        applicant_kinds=["enterprise"],
        review_points=["在法定时限内提出申请", "事故经过经调查核实，符合认定工伤的情形"],
        # The accident is investigated on site (调查核实), so the province does not list it as
        # handled anywhere.
        handled_anywhere=False,
    ),
    # --- 民政
    CatalogItem(
        item_code="MZ-CJ-001",
        name="困难残疾人生活补贴和重度残疾人护理补贴申请",
        domain="民政",
        department="民政局",
        legal_basis="《中华人民共和国残疾人保障法》第四十八条",
        contact_phone="12345",
        jurisdiction="household",
        competent_level="county",
        statutory_days=30,
        promised_days=20,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "中华人民共和国残疾人证（第二代）", original=True),
            _material("M03", "居民户口簿复印件", deferrable=True, certificates=_HOUSEHOLD_REGISTER),
            _material("M04", "家庭经济困难情况证明", commitment=True),
            _material("M05", "监护人或代理人委托书", required=False),
        ],
        applicant_kinds=["person"],
        review_points=["残疾等级符合补贴条件", "家庭经济状况符合困难认定标准"],
    ),
    CatalogItem(
        item_code="MZ-DB-001",
        name="最低生活保障申请",
        domain="民政",
        department="民政局",
        legal_basis="《社会救助暂行办法》第十一条",
        contact_phone="12345",
        jurisdiction="household",
        competent_level="county",
        statutory_days=30,
        promised_days=20,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            _material("M02", "居民户口簿复印件", deferrable=True, certificates=_HOUSEHOLD_REGISTER),
            _material("M03", "家庭经济状况核对授权书"),
            _material("M04", "家庭收入和财产状况申报", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["家庭人均收入低于当地最低生活保障标准", "家庭财产状况符合规定"],
    ),
    CatalogItem(
        item_code="MZ-GL-001",
        name="高龄津贴申领",
        domain="民政",
        department="民政局",
        legal_basis="《中华人民共和国老年人权益保障法》第三十三条",
        contact_phone="12345",
        jurisdiction="household",
        competent_level="county",
        statutory_days=20,
        promised_days=10,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "老年人居民身份证", original=True),
            _material("M02", "本人银行账户信息", deferrable=True),
            _material("M03", "代办人居民身份证", required=False),
        ],
        applicant_kinds=["person"],
        review_points=["年满八十周岁", "未重复享受高龄津贴"],
    ),
    # --- 交通
    CatalogItem(
        item_code="JT-YS-001",
        name="道路货物运输经营许可证变更",
        domain="交通",
        department="交通运输局",
        legal_basis="《中华人民共和国道路运输条例》第二十四条",
        contact_phone="12328",
        jurisdiction="enterprise",
        competent_level="county",
        statutory_days=20,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "道路货物运输经营变更申请表"),
            _material("M02", "法定代表人身份证件", original=True),
            _material("M03", "营业执照"),
            _material("M04", "安全生产管理制度文本", commitment=True),
            _material("M05", "道路运输经营许可证正、副本", deferrable=True, original=True),
        ],
        applicant_kinds=["enterprise"],
        review_points=["变更事项符合道路货物运输经营条件"],
    ),
    CatalogItem(
        item_code="JT-CY-001",
        name="道路运输从业人员从业资格证换证",
        domain="交通",
        department="交通运输局",
        legal_basis="《中华人民共和国道路运输条例》第九条、第二十二条；《道路运输从业人员管理规定》",
        contact_phone="12328",
        jurisdiction="household",
        competent_level="city",
        statutory_days=20,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "居民身份证", original=True),
            # The certificate of the previous renewal.
            _material("M02", "原从业资格证件", original=True, certificates=("JT-CY-001",)),
            _material("M03", "无重大以上交通责任事故记录证明", commitment=True),
        ],
        applicant_kinds=["person"],
        review_points=["从业资格证件在有效期内或届满前申请", "继续教育记录完整"],
    ),
    CatalogItem(
        item_code="JT-CX-001",
        name="公路超限运输车辆行驶许可",
        domain="交通",
        department="交通运输局",
        legal_basis="《中华人民共和国公路法》第五十条；《公路安全保护条例》第三十五条",
        contact_phone="12328",
        jurisdiction="enterprise",
        competent_level="city",
        statutory_days=15,
        promised_days=5,
        fee_yuan=Decimal("0"),
        delivery_methods=_BOTH,
        materials=[
            _material("M01", "公路超限运输申请表"),
            _material("M02", "车辆行驶证", original=True),
            _material("M03", "道路运输证", original=True),
            _material("M04", "货物名称、外廓尺寸和质量说明"),
            _material("M05", "护送方案", required=False),
        ],
        applicant_kinds=["enterprise"],
        review_points=["车货经现场查验，与申请一致", "通行路线的公路、桥梁承载能力满足要求"],
        # Vehicle and load are inspected where the trip starts, so the province does not list
        # it as handled anywhere.
        handled_anywhere=False,
    ),
)

_BY_CODE: dict[str, CatalogItem] = {item.item_code: item for item in CATALOG}
if len(_BY_CODE) != len(CATALOG):  # pragma: no cover - guards edits to the table above
    raise RuntimeError("duplicate item_code in CATALOG")


def get_item(item_code: str) -> CatalogItem | None:
    """The catalog item with this code, or None."""
    return _BY_CODE.get(item_code)


def handled_anywhere_items() -> list[str]:
    """The codes of the items the province lists as handled anywhere (全省通办清单), sorted:
    what the province-wide default agreement covers."""
    return sorted(item.item_code for item in CATALOG if item.handled_anywhere)
